// Package edge is the gateway's outer layer: it decides which paths exist publicly, bounds
// request bodies, answers health checks and CORS, and makes every error a JSON envelope.
package edge

import (
	"bytes"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gomicro-stack/gomicro-stack/gateway/envelope"
	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
)

// HealthPath answers {"status":"UP"} without authentication.
const HealthPath = "/health"

// Config is the edge's behaviour.
type Config struct {
	// Routes are the public paths (after cleaning); everything else is 404. Internal RPC
	// endpoints such as User.GetUserInfo are not reachable because they are not listed.
	Routes []string
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int64
	// CORSOrigins are the origins browsers may call from. "*" allows any origin without
	// credentials; listed origins are echoed with credentials allowed. Empty: no CORS headers.
	CORSOrigins []string
}

// CleanPath is the path as routing sees it: cleaned of dot segments and double slashes.
func CleanPath(p string) string { return path.Clean("/" + p) }

// Middleware wraps next with the edge's rules, outermost first: error envelope, health, CORS,
// route check, body limit.
func Middleware(c Config) func(http.Handler) http.Handler {
	routes := make(map[string]bool, len(c.Routes))
	for _, r := range c.Routes {
		routes[CleanPath(r)] = true
	}
	return func(next http.Handler) http.Handler {
		h := limitBody(c.MaxBodyBytes, next)
		h = onlyRoutes(routes, h)
		h = cors(c.CORSOrigins, h)
		h = health(h)
		return observe(routes, envelope.Translate(h))
	}
}

// observe records every answer in the gateway's metrics, by route (unknown paths as one
// label, so that scanners cannot grow the label set) and status.
func observe(routes map[string]bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := CleanPath(r.URL.Path)
		if !routes[route] && route != HealthPath {
			route = "other"
		}
		metrics.Observe("gateway", route, sw.status, time.Since(began))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Flush() {
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

func onlyRoutes(routes map[string]bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !routes[CleanPath(r.URL.Path)] {
			envelope.Write(w, http.StatusNotFound, "no such route: "+r.URL.Path)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody reads the body up front so that an oversized one is refused with 413 before
// anything is routed, whatever the client claimed in Content-Length.
func limitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			envelope.Write(w, http.StatusRequestEntityTooLarge, "request body is larger than the limit")
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
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
		next.ServeHTTP(w, r)
	})
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
