package tracing

import (
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HTTPMiddleware gives every request a server span, a child of the caller's when its
// traceparent header is well formed, named by name(r) (method and route: never the raw path,
// which a caller chooses). The answer carries the span's traceparent, set before the handler
// runs so that every answer has it, error bodies included (see envelope).
func HTTPMiddleware(name func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := tracer.Start(ctx, name(r), trace.WithSpanKind(trace.SpanKindServer))
			if header := Traceparent(span.SpanContext()); header != "" {
				w.Header().Set("Traceparent", header)
			}
			if !span.IsRecording() {
				next.ServeHTTP(w, r.WithContext(ctx))
				span.End()
				return
			}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r.WithContext(ctx))
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.Int("http.response.status_code", status))
			if status >= 500 {
				failed(span, fmt.Errorf("%d %s", status, http.StatusText(status)))
			}
			span.End()
		})
	}
}

// MethodName names a span by the request's method alone, for servers whose paths are not a
// small set of routes.
func MethodName(r *http.Request) string { return "HTTP " + KnownMethod(r.Method) }

// KnownMethod is m if it is one of HTTP's methods, else "OTHER": span names must not take
// whatever a caller writes.
func KnownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status of the answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets streaming answers through; Unwrap lets http.ResponseController reach the rest.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
