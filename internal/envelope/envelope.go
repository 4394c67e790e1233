// Package envelope writes the stack's HTTP error answers, the gateway's and the config
// server's: an HTTP status with the JSON body {"code": <status>, "message": "..."}. Translate
// turns every error a handler below the gateway produced (go-micro error JSON, plain text) into
// that form, so clients see one shape only.
package envelope

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Body is the JSON of an error answer (proto/api's gomicro.api.Error).
type Body struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Reason is a gomicro.api.Reason name, where a service or the API's rules gave one.
	Reason string `json:"reason,omitempty"`
	// TraceID is the request's trace (see tracing), for a user to quote.
	TraceID string `json:"trace_id,omitempty"`
}

// Write answers status with {"code": status, "message": message}.
func Write(w http.ResponseWriter, status int, message string) {
	WriteReason(w, status, message, "")
}

// WriteReason answers status with {"code": status, "message": message, "reason": reason}, and
// the trace id of the answer's traceparent header (tracing.HTTPMiddleware sets it before any
// handler runs): the id a user quotes is the one the header says.
func WriteReason(w http.ResponseWriter, status int, message, reason string) {
	h := w.Header()
	body, _ := json.Marshal(Body{Code: status, Message: message, Reason: reason, TraceID: tracing.TraceIDOfTraceparent(h.Get("Traceparent"))})
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Encoding")
	w.WriteHeader(status)
	w.Write(body)
}

// microError is the JSON go-micro writes for an *errors.Error.
type microError struct {
	ID     string `json:"id"`
	Code   int    `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

// Describe decides the status, message and reason a client sees for an error answer with the
// given status and body. Every 503 has a reason: OVERLOADED where load was shed, else
// UNAVAILABLE (the service is down, unknown to the registry, gone a moment ago or behind an
// open breaker), as the OpenAPI document says.
func Describe(status int, body []byte) (int, string, string) {
	code, message, reason := describe(status, body)
	if code == http.StatusServiceUnavailable && reason == "" {
		reason = unavailable
	}
	return code, message, reason
}

func describe(status int, body []byte) (int, string, string) {
	var me microError
	if json.Unmarshal(bytes.TrimSpace(body), &me) != nil || (me.ID == "" && me.Detail == "") {
		if already, ok := asEnvelope(body); ok {
			return status, already.Message, already.Reason
		}
		return status, strings.ToLower(http.StatusText(status)), ""
	}
	code, message := describeMicro(me)
	reason := ""
	// A service's reason passes on; the client's own statuses (UNREACHABLE, ...) are for
	// breakers and retries, not for clients.
	if code == me.Code && me.ID != "go.micro.client" && me.ID != "grpc" && isReason(me.Status) {
		reason = me.Status
	}
	return code, message, reason
}

// isReason says whether s looks like a gomicro.api.Reason name (UPPER_SNAKE), as services put
// in a go-micro error's status; other statuses ("Bad Request") are go-micro's own.
func isReason(s string) bool {
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || c == '_') {
			return false
		}
	}
	return s != ""
}

func describeMicro(me microError) (int, string) {
	switch me.ID {
	case "go.micro.client":
		// The gateway's own client could not get an answer: the backend is down, unknown to the
		// registry, or too slow; or it could not send the request at all (a 4xx).
		switch {
		case me.Code == http.StatusRequestTimeout:
			return http.StatusGatewayTimeout, "upstream service timed out"
		case me.Code >= 400 && me.Code < 500:
			return me.Code, "malformed request"
		}
		return http.StatusServiceUnavailable, "service unavailable"
	case "grpc":
		// The service's gRPC server answered by itself (no such method, a message over its
		// limit): its words are about our wiring, not for clients.
		if text := http.StatusText(me.Code); text != "" {
			return me.Code, strings.ToLower(text)
		}
		return http.StatusInternalServerError, "internal error"
	}
	code := me.Code
	if code < 400 || code > 599 {
		code = http.StatusInternalServerError
	}
	if code == http.StatusInternalServerError {
		// A backend's internal failure says nothing a client can act on.
		return code, "internal error"
	}
	return code, me.Detail
}

func asEnvelope(body []byte) (Body, bool) {
	var b struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
		Reason  string  `json:"reason"`
	}
	if json.Unmarshal(body, &b) != nil || b.Code == nil || b.Message == nil {
		return Body{}, false
	}
	return Body{Code: *b.Code, Message: *b.Message, Reason: b.Reason}, true
}

// overloaded is the reason of requests refused to stay within capacity; unavailable that of
// every other 503.
var (
	overloaded  = apipb.Reason_OVERLOADED.String()
	unavailable = apipb.Reason_UNAVAILABLE.String()
)

// RetryAfterUnavailable is the Retry-After of a 503 answer, in seconds.
const RetryAfterUnavailable = "1"

// maxCaptured bounds how much of an error body is kept for translation.
const maxCaptured = 64 << 10

// Translate rewrites every answer of status 400 and above that next writes into an envelope.
// Successful answers pass through untouched and unbuffered.
func Translate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &catcher{ResponseWriter: w}
		next.ServeHTTP(c, r)
		if c.failed {
			status, message, reason := Describe(c.status, c.body.Bytes())
			if status >= 500 && reason != overloaded {
				// The client sees a short message; the operator needs the cause. (A request shed
				// for load has none worth a line each: floods of them are the point.)
				tracing.Log(r.Context()).Warnf("%s %s: %d %q: %s", r.Method, r.URL.Path, status, message, bytes.TrimSpace(c.body.Bytes()))
			}
			if status == http.StatusServiceUnavailable {
				// Down, circuit open or shedding load: a client that waits a moment does better
				// than one that hammers.
				w.Header().Set("Retry-After", RetryAfterUnavailable)
			}
			WriteReason(w, status, message, reason)
		}
	})
}

// catcher passes successes through and holds error answers back.
type catcher struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	failed      bool
	body        bytes.Buffer
}

func (c *catcher) WriteHeader(status int) {
	if c.wroteHeader {
		return
	}
	c.wroteHeader, c.status = true, status
	if status >= 400 {
		c.failed = true
		return
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *catcher) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.failed {
		if room := maxCaptured - c.body.Len(); room > 0 {
			c.body.Write(p[:min(len(p), room)])
		}
		return len(p), nil
	}
	return c.ResponseWriter.Write(p)
}

// Flush lets streaming answers through.
func (c *catcher) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok && !c.failed {
		f.Flush()
	}
}
