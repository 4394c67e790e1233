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

	"github.com/micro/go-micro/v2/logger"
)

// Body is the JSON of an error answer.
type Body struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Write answers status with {"code": status, "message": message}.
func Write(w http.ResponseWriter, status int, message string) {
	body, _ := json.Marshal(Body{Code: status, Message: message})
	h := w.Header()
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
}

// Describe decides the status and message a client sees for an error answer with the given
// status and body.
func Describe(status int, body []byte) (int, string) {
	var me microError
	if json.Unmarshal(bytes.TrimSpace(body), &me) != nil || (me.ID == "" && me.Detail == "") {
		if already, ok := asEnvelope(body); ok {
			return status, already
		}
		return status, strings.ToLower(http.StatusText(status))
	}
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
	case "go.micro.api":
		// The api handler failed before calling: a form it could not parse, or a route the
		// registry has no instance for.
		if strings.HasPrefix(me.Detail, "Error parsing form") {
			return http.StatusBadRequest, "malformed form body"
		}
		return http.StatusServiceUnavailable, "service unavailable"
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

func asEnvelope(body []byte) (string, bool) {
	var b struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if json.Unmarshal(body, &b) != nil || b.Code == nil || b.Message == nil {
		return "", false
	}
	return *b.Message, true
}

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
			status, message := Describe(c.status, c.body.Bytes())
			if status >= 500 {
				// The client sees a short message; the operator needs the cause.
				logger.Warnf("%s %s: %d %q: %s", r.Method, r.URL.Path, status, message, bytes.TrimSpace(c.body.Bytes()))
			}
			if status == http.StatusServiceUnavailable {
				// Down, circuit open or shedding load: a client that waits a moment does better
				// than one that hammers.
				w.Header().Set("Retry-After", RetryAfterUnavailable)
			}
			Write(w, status, message)
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
