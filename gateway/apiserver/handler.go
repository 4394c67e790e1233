package apiserver

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"

	"github.com/gomicro-stack/gomicro-stack/gateway/request"
	"github.com/gomicro-stack/gomicro-stack/gateway/routes"
	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Handler serves the routes the registry holds (package routes): the JSON body becomes the
// route's protobuf request, checked against the proto's validation rules before any call (bad
// input never reaches a service nor counts against its breaker), then the call's reply becomes
// the JSON answer (internal/apijson). This is what micro api's rpc handler does, but for its
// JSON: that one answers camelCase names, drops zero values ("code": 0), quotes 64-bit
// integers, always answers 200, and merges the query string into the request.
//
// The reading and the call are two halves (Decoding, Call) so that what sits between them, the
// authentication and the limits, decides on the same decoded request (package request).
type Handler struct {
	client client.Client
	lookup Lookup
}

// Lookup finds the route of a cleaned path.
type Lookup func(path string) (*routes.Route, bool)

// NewHandler serves the routes lookup finds, through c.
func NewHandler(c client.Client, lookup Lookup) *Handler {
	return &Handler{client: c, lookup: lookup}
}

// Audience is the service a request goes to (go.micro.api.greeter), for whom the gateway signs
// the caller's identity; "" for a path that is no route.
func (h *Handler) Audience(r *http.Request) string {
	if rt, ok := h.lookup(path.Clean("/" + r.URL.Path)); ok {
		return rt.Service
	}
	return ""
}

// ServeHTTP reads and calls: Decoding, then Call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if request.From(r.Context()) != nil {
		h.Call(w, r)
		return
	}
	h.Decoding(http.HandlerFunc(h.Call)).ServeHTTP(w, r)
}

// Decoding reads a request to a route once, strictly, into the route's request message and
// validates it; next gets it in the request's context (request.From). Anything unreadable is
// answered here, before any layer after it counts it.
func (h *Handler) Decoding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := h.lookup(path.Clean("/" + r.URL.Path))
		if !ok {
			envelope.Write(w, http.StatusNotFound, "no such route: "+r.URL.Path)
			return
		}
		if !rt.Available() {
			// Its last instance left a moment ago: as for any service that is down.
			w.Header().Set("Retry-After", envelope.RetryAfterUnavailable)
			envelope.Write(w, http.StatusServiceUnavailable, "service unavailable")
			return
		}
		if r.Method != rt.HTTPMethod {
			w.Header().Set("Allow", rt.HTTPMethod)
			envelope.Write(w, http.StatusMethodNotAllowed, "use "+rt.HTTPMethod+" with a JSON body")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			envelope.Write(w, http.StatusBadRequest, "could not read request body")
			return
		}
		if len(body) > 0 && !isJSON(r.Header.Get("Content-Type")) {
			envelope.Write(w, http.StatusUnsupportedMediaType, "send the body as JSON with Content-Type: application/json")
			return
		}
		in := rt.Request.New().Interface()
		if err := apijson.Decode(body, in, r.Header.Get); err != nil {
			envelope.WriteReason(w, http.StatusBadRequest, err.Error(), invalidArgument)
			return
		}
		if err := apispec.Validate(in); err != nil {
			envelope.WriteReason(w, http.StatusBadRequest, err.Error(), invalidArgument)
			return
		}
		decoded := &request.Request{Route: rt, Message: in}
		next.ServeHTTP(w, r.WithContext(request.With(r.Context(), decoded)))
	})
}

// Call sends the decoded request (request.From; Decoding must have run) to its service and
// answers with the reply, recording in the request how the service answered.
func (h *Handler) Call(w http.ResponseWriter, r *http.Request) {
	decoded := request.From(r.Context())
	if decoded == nil {
		envelope.Write(w, http.StatusInternalServerError, "internal error")
		return
	}
	rt := decoded.Route
	// Services hear nothing from the client but the request and the identity the gateway
	// signed: no client header becomes metadata they might believe.
	ctx := r.Context()
	if assertion := r.Header.Get(auth.HeaderAssertion); assertion != "" {
		ctx = metadata.NewContext(ctx, metadata.Metadata{auth.HeaderAssertion: assertion})
	}
	out := rt.Reply.New().Interface()
	if err := h.client.Call(ctx, h.client.NewRequest(rt.Service, rt.Endpoint, decoded.Message), out); err != nil {
		if reason, ok := serviceReason(err); ok {
			decoded.Answered(reason)
		}
		writeCallError(w, err)
		return
	}
	decoded.Answered(apipb.Reason_REASON_UNSPECIFIED)
	answer, err := apijson.Encode(out)
	if err != nil {
		writeCallError(w, merrors.InternalServerError(rt.Service, "encode the answer of %s: %v", rt.Endpoint, err))
		return
	}
	header := w.Header()
	for name, value := range apijson.Headers(out) {
		header.Set(name, value)
	}
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(answer)))
	// Answers are about one caller (tokens, a profile): no cache may keep them.
	header.Set("Cache-Control", "no-store")
	w.WriteHeader(rt.Status)
	w.Write(answer)
}

// serviceReason is the reason a service answered a call with, and false for failures that are
// not a service's answer (the client's own: unreachable, timed out; gRPC's).
func serviceReason(err error) (apipb.Reason, bool) {
	var e *merrors.Error
	if !errors.As(err, &e) || e.Id == "go.micro.client" || e.Id == "grpc" {
		return 0, false
	}
	reason, ok := apipb.Reason_value[e.Status]
	return apipb.Reason(reason), ok
}

var invalidArgument = apipb.Reason_INVALID_ARGUMENT.String()

// writeCallError answers a failed call with go-micro's error JSON and its status, which the
// edge's envelope (envelope.Translate) turns into what clients see.
func writeCallError(w http.ResponseWriter, err error) {
	var e *merrors.Error
	if !errors.As(err, &e) {
		e = merrors.Parse(err.Error())
	}
	code := int(e.Code)
	if code < 400 || code > 599 {
		code = http.StatusInternalServerError
	}
	body, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
