// Package edge is the gateway's outer layer: it decides which paths exist publicly, bounds
// request bodies, answers health checks and CORS, and makes every error a JSON envelope.
package edge

import (
	"bytes"
	"io"
	"log"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
)

// HealthPath answers {"status":"UP"} without authentication.
const HealthPath = "/health"

// OpenAPIPath serves the API's OpenAPI document without authentication.
const OpenAPIPath = "/openapi.yaml"

// Config is the edge's behaviour.
type Config struct {
	// Known says whether a cleaned path is a route; everything else is 404. Internal RPC
	// endpoints such as User.GetUserInfo are not reachable because they are no route.
	Known func(path string) bool
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int64
	// MaxHeaderBytes bounds the request line and headers; larger ones get 431. (The HTTP
	// server's own, harder limit above it answers in plain text.)
	MaxHeaderBytes int
	// CORSOrigins are the origins browsers may call from. "*" allows any origin without
	// credentials; listed origins are echoed with credentials allowed. Empty: no CORS headers.
	CORSOrigins []string
	// OpenAPI makes the document served at OpenAPIPath, when asked for (nil: none).
	OpenAPI func() ([]byte, error)
}

// CleanPath is the path as routing sees it: cleaned of dot segments and double slashes.
func CleanPath(p string) string { return path.Clean("/" + p) }

// Middleware wraps next with the edge's rules, outermost first: error envelope, health, CORS,
// route check, header and body limits, well-formed text.
func Middleware(c Config) func(http.Handler) http.Handler {
	routes := c.Known
	return func(next http.Handler) http.Handler {
		h := readBody(c.MaxBodyBytes, next)
		h = limitHeaders(c.MaxHeaderBytes, h)
		h = onlyRoutes(routes, h)
		h = cors(c.CORSOrigins, h)
		h = health(h)
		h = document(OpenAPIPath, "application/yaml", c.OpenAPI, h)
		return observe(routes, envelope.Translate(h))
	}
}

// observe records every answer in the gateway's metrics, by route (unknown paths as one
// label, so that scanners cannot grow the label set) and status.
func observe(routes func(string) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		route := CleanPath(r.URL.Path)
		if !routes(route) && route != HealthPath && route != OpenAPIPath {
			route = "other"
		}
		metrics.Observe("gateway", route, sw.Status, time.Since(began))
	})
}

// StatusWriter remembers the status a handler answered with (200 unless it set another).
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

// NewStatusWriter wraps w.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter {
	return &StatusWriter{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader records status and passes it on.
func (w *StatusWriter) WriteHeader(status int) {
	w.Status = status
	w.ResponseWriter.WriteHeader(status)
}

// Flush lets streaming answers through.
func (w *StatusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func health(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if CleanPath(r.URL.Path) == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"UP"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// document serves what content makes at path to GET and HEAD, when there is content.
func document(path, contentType string, content func() ([]byte, error), next http.Handler) http.Handler {
	if content == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if CleanPath(r.URL.Path) == path && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			body, err := content()
			if err != nil {
				log.Printf("%s: %v", path, err)
				envelope.Write(w, http.StatusInternalServerError, "the document could not be made")
				return
			}
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			if r.Method == http.MethodGet {
				w.Write(body)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

func onlyRoutes(routes func(string) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !routes(CleanPath(r.URL.Path)) {
			envelope.Write(w, http.StatusNotFound, "no such route: "+r.URL.Path)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitHeaders refuses requests whose request line and headers are over limit (0: no limit).
func limitHeaders(limit int, next http.Handler) http.Handler {
	if limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 4
		for name, values := range r.Header {
			for _, v := range values {
				size += len(name) + len(v) + 4 // ": " and CRLF
			}
		}
		if size > limit {
			envelope.Write(w, http.StatusRequestHeaderFieldsTooLarge, "request headers are larger than the limit")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readBody reads the body up front, so that an oversized one is refused with 413 before
// anything is routed, whatever the client claimed in Content-Length, and checks that the
// request is well-formed text (see malformed).
func readBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			envelope.Write(w, http.StatusRequestEntityTooLarge, "request body is larger than the limit")
			return
		}
		var body []byte
		if r.Body != nil && r.Body != http.NoBody {
			var err error
			body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
			r.Body.Close()
			switch {
			case err != nil:
				envelope.Write(w, http.StatusBadRequest, "could not read request body")
				return
			case int64(len(body)) > limit:
				envelope.Write(w, http.StatusRequestEntityTooLarge, "request body is larger than the limit")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		if problem := malformed(r, body); problem != "" {
			envelope.Write(w, http.StatusBadRequest, problem)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// malformed says what is wrong with a request that is not well-formed text, or "" when nothing
// is. What reaches a service travels in protobuf string fields (the body's, a header's such as
// Idempotency-Key), which must be UTF-8: a request with one invalid byte used to fail on the
// gateway's side, after routing, and count against the service's breaker. No client has a
// reason to send invalid UTF-8 elsewhere either, so the whole request is held to it.
func malformed(r *http.Request, body []byte) string {
	if !utf8.ValidString(r.URL.Path) || !utf8.ValidString(r.Host) {
		return "the path is not valid UTF-8"
	}
	if r.URL.RawQuery != "" {
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "malformed query string"
		}
		if !validValues(query) {
			return "the query string is not valid UTF-8"
		}
	}
	for name, values := range r.Header {
		if !utf8.ValidString(name) {
			return "a header name is not valid UTF-8"
		}
		for _, v := range values {
			if !utf8.ValidString(v) {
				return "header " + name + " is not valid UTF-8"
			}
		}
	}
	if !utf8.Valid(body) {
		return "the request body is not valid UTF-8"
	}
	// A form body is forwarded decoded, so its escapes must decode to UTF-8 too.
	if len(body) > 0 && isForm(r.Header.Get("Content-Type")) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "malformed form body"
		}
		if !validValues(form) {
			return "the form body is not valid UTF-8"
		}
	}
	return ""
}

func isForm(contentType string) bool {
	if !strings.Contains(contentType, "form") {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

func validValues(values url.Values) bool {
	for k, vs := range values {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

func cors(origins []string, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[strings.TrimSpace(o)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && len(allowed) > 0 {
			h := w.Header()
			h.Add("Vary", "Origin")
			switch {
			case allowed[origin]:
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			case allowed["*"]:
				// A wildcard never goes with credentials: browsers reject it, and it would let
				// any site act with a user's cookies.
				h.Set("Access-Control-Allow-Origin", "*")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Paths is a Known of a fixed list of paths.
func Paths(paths ...string) func(string) bool {
	set := make(map[string]bool, len(paths))
	for _, p := range paths {
		set[CleanPath(p)] = true
	}
	return func(path string) bool { return set[path] }
}
