package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/gomicro-stack/gomicro-stack/gateway/request"
	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Handler serves the routes of the proto files: the JSON body becomes the route's protobuf
// request, checked against the proto's validation rules before any call (bad input never
// reaches a service nor counts against its breaker), then the call's reply becomes the JSON
// answer (internal/apijson). This is what micro api's rpc handler does, but for its JSON:
// that one answers camelCase names, drops zero values ("code": 0), quotes 64-bit integers,
// always answers 200, and merges the query string into the request.
//
// The reading and the call are two halves (Decoding, Call) so that what sits between them, the
// authentication and the limits, decides on the same decoded request (package request).
type Handler struct {
	client client.Client
	routes map[string]route
}

type route struct {
	apispec.Route
	request, reply proto.Message // prototypes, never used but to make new ones
	subject        protoreflect.FieldDescriptor
}

// NewHandler serves routes through c.
func NewHandler(c client.Client, routes []apispec.Route) (*Handler, error) {
	h := &Handler{client: c, routes: map[string]route{}}
	for _, r := range routes {
		in, err := protoregistry.GlobalTypes.FindMessageByName(r.RPC.Input().FullName())
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Path, err)
		}
		out, err := protoregistry.GlobalTypes.FindMessageByName(r.RPC.Output().FullName())
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Path, err)
		}
		subject, err := apispec.Subject(r.RPC.Input())
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Path, err)
		}
		h.routes[r.Path] = route{Route: r, request: in.Zero().Interface(), reply: out.Zero().Interface(), subject: subject}
	}
	return h, nil
}

// Audience is the service a request goes to (go.micro.api.greeter), for whom the gateway signs
// the caller's identity; "" for a path that is no route.
func (h *Handler) Audience(r *http.Request) string {
	return h.routes[path.Clean("/"+r.URL.Path)].Service
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
		rt, ok := h.routes[path.Clean("/"+r.URL.Path)]
		if !ok {
			envelope.Write(w, http.StatusNotFound, "no such route: "+r.URL.Path)
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
		in := rt.request.ProtoReflect().New().Interface()
		if err := apijson.Decode(body, in, r.Header.Get); err != nil {
			envelope.WriteReason(w, http.StatusBadRequest, err.Error(), invalidArgument)
			return
		}
		if err := apispec.Validate(in); err != nil {
			envelope.WriteReason(w, http.StatusBadRequest, err.Error(), invalidArgument)
			return
		}
		decoded := &request.Request{Route: rt.Route, Message: in, SubjectField: rt.subject}
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
	rt := h.routes[decoded.Route.Path]
	// Services hear nothing from the client but the request and the identity the gateway
	// signed: no client header becomes metadata they might believe.
	ctx := r.Context()
	if assertion := r.Header.Get(auth.HeaderAssertion); assertion != "" {
		ctx = metadata.NewContext(ctx, metadata.Metadata{auth.HeaderAssertion: assertion})
	}
	out := rt.reply.ProtoReflect().New().Interface()
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
