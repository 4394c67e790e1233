package tracing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/logger"
	"github.com/micro/go-micro/v2/metadata"
	"github.com/micro/go-micro/v2/server"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	gmetadata "google.golang.org/grpc/metadata"
)

// record makes the stack's spans with a provider that samples as s says and keeps finished
// spans in memory, until the test ends.
func record(t *testing.T, s sdktrace.Sampler) *tracetest.SpanRecorder {
	t.Helper()
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSampler(s), sdktrace.WithSpanProcessor(recorder))
	previous, previousTracer := otel.GetTracerProvider(), tracer
	otel.SetTracerProvider(provider)
	tracer = provider.Tracer(Instrumentation)
	t.Cleanup(func() { otel.SetTracerProvider(previous); tracer = previousTracer })
	return recorder
}

// echoClient answers every call with err and remembers the metadata it was sent.
type echoClient struct {
	client.Client
	err  error
	sent metadata.Metadata
}

func (c *echoClient) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	c.sent, _ = metadata.FromContext(ctx)
	return c.err
}

type request struct{ client.Request }

func (request) Service() string  { return "go.micro.api.user" }
func (request) Endpoint() string { return "User.GetUserInfo" }

func TestClientSpanTravelsInMetadataReplacingTheCallersOwn(t *testing.T) {
	recorder := record(t, sdktrace.AlwaysSample())
	next := &echoClient{}
	ctx, parent := tracer.Start(context.Background(), "Greeter.Hello")
	// What the greeter received from the gateway, as go-micro's gRPC server stores it.
	ctx = metadata.NewContext(ctx, metadata.Metadata{"traceparent": "00-11111111111111111111111111111111-2222222222222222-01"})
	if err := ClientWrapper(next).Call(ctx, request{}, nil); err != nil {
		t.Fatal(err)
	}
	parent.End()
	spans := recorder.Ended()
	if len(spans) != 2 || spans[0].Name() != "User.GetUserInfo" || spans[0].SpanKind() != trace.SpanKindClient {
		t.Fatalf("spans %v, want the client span of User.GetUserInfo first", spans)
	}
	call := spans[0]
	if call.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("client span's parent %s, want %s", call.Parent().SpanID(), parent.SpanContext().SpanID())
	}
	var headers []string
	for k, v := range next.sent {
		if strings.EqualFold(k, "traceparent") {
			headers = append(headers, v)
		}
	}
	if want := Traceparent(call.SpanContext()); len(headers) != 1 || headers[0] != want {
		t.Errorf("traceparent sent %q, want only %q", headers, want)
	}
}

// serverRequest is the part of a go-micro server request the wrapper reads.
type serverRequest struct{ server.Request }

func (serverRequest) Service() string  { return "go.micro.api.user" }
func (serverRequest) Endpoint() string { return "User.GetUserInfo" }

func TestServerSpanIsAChildOfTheCallersAndFailuresAreErrors(t *testing.T) {
	const caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tc := range []struct {
		name   string
		err    error
		failed bool
	}{
		{"success", nil, false},
		{"an answer about the request", merrors.NotFound("go.micro.api.user", "no such user"), false},
		{"the service's failure", merrors.InternalServerError("go.micro.api.user", "disk on fire"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recorder := record(t, sdktrace.ParentBased(sdktrace.NeverSample()))
			// The call's headers as the gRPC server hands them to go-micro's.
			ctx := gmetadata.NewIncomingContext(context.Background(), gmetadata.Pairs("traceparent", caller))
			var seen trace.SpanContext
			handler := HandlerWrapper(func(ctx context.Context, _ server.Request, _ interface{}) error {
				seen = trace.SpanContextFromContext(ctx)
				return tc.err
			})
			if err := handler(ctx, serverRequest{}, nil); !errors.Is(err, tc.err) {
				t.Fatalf("handler returned %v, want %v", err, tc.err)
			}
			spans := recorder.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1 (the caller sampled the trace)", len(spans))
			}
			span := spans[0]
			if span.SpanKind() != trace.SpanKindServer || span.Name() != "User.GetUserInfo" {
				t.Errorf("span %s of kind %s", span.Name(), span.SpanKind())
			}
			if span.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || span.Parent().SpanID().String() != "b7ad6b7169203331" {
				t.Errorf("parent %s/%s, want the caller's", span.Parent().TraceID(), span.Parent().SpanID())
			}
			if seen.SpanID() != span.SpanContext().SpanID() {
				t.Error("the handler does not run in the server span")
			}
			if got := span.Status().Code == codes.Error; got != tc.failed {
				t.Errorf("error status %v, want %v", got, tc.failed)
			}
		})
	}
}

func TestHTTPMiddlewareAnswersWithTraceparentAndKeepsTheCallersTraceID(t *testing.T) {
	recorder := record(t, sdktrace.AlwaysSample())
	handler := HTTPMiddleware(MethodName)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if TraceID(r.Context()) == "" {
			t.Error("the handler's context has no trace")
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	for _, tc := range []struct {
		name, incoming, traceID string
	}{
		{"a new trace", "", ""},
		{"the caller's trace", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "0af7651916cd43dd8448eb211c80319c"},
		{"a malformed header starts a new one", "00-zz-b7ad6b7169203331-01", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/greeter/hello", nil)
			if tc.incoming != "" {
				req.Header.Set("Traceparent", tc.incoming)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			got := TraceIDOfTraceparent(rec.Header().Get("Traceparent"))
			if got == "" || (tc.traceID != "" && got != tc.traceID) {
				t.Fatalf("answer's traceparent %q, want trace %q", rec.Header().Get("Traceparent"), tc.traceID)
			}
			spans := recorder.Ended()
			last := spans[len(spans)-1]
			if last.SpanContext().TraceID().String() != got || last.Status().Code != codes.Error || last.Name() != "HTTP POST" {
				t.Errorf("span %s in trace %s, status %v", last.Name(), last.SpanContext().TraceID(), last.Status())
			}
		})
	}
}

func TestEdgeDecidesSamplingItself(t *testing.T) {
	// A request from outside that claims its trace is sampled must not make the edge record
	// it when the edge's own ratio says no; an internal service follows its caller.
	for _, tc := range []struct {
		role Role
		want bool
	}{{Edge, false}, {Internal, true}} {
		recorder := record(t, sampler(Config{Endpoint: "collector:4318", SamplingRatio: 0}, tc.role))
		handler := HTTPMiddleware(MethodName)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		handler.ServeHTTP(httptest.NewRecorder(), req)
		if got := len(recorder.Ended()) == 1; got != tc.want {
			t.Errorf("role %d: recorded %v, want %v", tc.role, got, tc.want)
		}
	}
}

func TestKnownMethod(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "POST": "POST", "get": "OTHER", "X-EVIL\n": "OTHER"} {
		if got := KnownMethod(in); got != want {
			t.Errorf("KnownMethod(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogLinesCarryTheTraceID(t *testing.T) {
	record(t, sdktrace.AlwaysSample())
	var out bytes.Buffer
	log.SetOutput(&out)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	ctx, span := tracer.Start(context.Background(), "x")
	defer span.End()
	Printf(ctx, "config file %s: bad", "a.yml")
	Printf(context.Background(), "no request")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "bad trace_id="+span.SpanContext().TraceID().String()) || strings.Contains(lines[1], "trace_id") {
		t.Errorf("log lines %q", lines)
	}
}

// TestRequestLoggerKeepsTheIDToItsLine: go-micro's logger lines of a request end with its
// trace id, and the next line, of no request, has none (go-micro's Fields would keep it).
func TestRequestLoggerKeepsTheIDToItsLine(t *testing.T) {
	record(t, sdktrace.AlwaysSample())
	var out bytes.Buffer
	previous := logger.DefaultLogger
	logger.DefaultLogger = bufferLogger{Logger: logger.NewLogger(logger.WithLevel(logger.InfoLevel)), out: &out}
	t.Cleanup(func() { logger.DefaultLogger = previous })
	ctx, span := tracer.Start(context.Background(), "x")
	defer span.End()
	Log(ctx).Warnf("user service call failed: %v", "timeout")
	Log(ctx).Debugf("below the level")
	logger.Warnf("no request")
	Log(context.Background()).Warnf("none either")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "timeout trace_id="+span.SpanContext().TraceID().String()) ||
		strings.Contains(lines[1], "trace_id") || strings.Contains(lines[2], "trace_id") {
		t.Errorf("log lines %q", lines)
	}
}

// bufferLogger is go-micro's logger writing its lines into out (its own prints to stdout).
type bufferLogger struct {
	logger.Logger
	out *bytes.Buffer
}

func (l bufferLogger) Fields(f map[string]interface{}) logger.Logger {
	return bufferLogger{Logger: l.Logger.Fields(f), out: l.out}
}

func (l bufferLogger) Log(level logger.Level, v ...interface{}) {
	if opts := l.Options(); opts.Level.Enabled(level) {
		fmt.Fprintln(l.out, level.String(), opts.Fields, fmt.Sprint(v...))
	}
}

func (l bufferLogger) Logf(level logger.Level, format string, v ...interface{}) {
	l.Log(level, fmt.Sprintf(format, v...))
}

// stubExporter fails or blocks as told, and counts what it took.
type stubExporter struct {
	mu    sync.Mutex
	fail  bool
	block chan struct{}
	taken int
}

func (e *stubExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.block != nil {
		select {
		case <-e.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errors.New("connection refused")
	}
	e.taken += len(spans)
	return nil
}

func (e *stubExporter) Shutdown(context.Context) error { return nil }

func TestExportQueueNeverMakesARequestWait(t *testing.T) {
	// A collector that never answers: spans beyond the queue are dropped at once and counted.
	exporter := &stubExporter{block: make(chan struct{})}
	queue := newExportQueue(exporter, "collector:4318", 8, time.Minute)
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(queue))
	droppedBefore := testutil.ToFloat64(droppedQueueFull)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2*maxBatch + 100 {
			_, span := provider.Tracer("test").Start(context.Background(), "hello")
			span.End()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ending spans waited for the collector")
	}
	if dropped := testutil.ToFloat64(droppedQueueFull) - droppedBefore; dropped < maxBatch {
		t.Errorf("%v spans counted as dropped, want at least %d", dropped, maxBatch)
	}
	close(exporter.block)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := provider.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestExportQueueCountsWhatTheCollectorRefusedAndSendsTheRest(t *testing.T) {
	exporter := &stubExporter{fail: true}
	queue := newExportQueue(exporter, "collector:4318", 64, time.Second)
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(queue))
	failedBefore, exportedBefore := testutil.ToFloat64(droppedExportFailed), testutil.ToFloat64(spansExported)
	end := func(n int) {
		for range n {
			_, span := provider.Tracer("test").Start(context.Background(), "hello")
			span.End()
		}
		if err := provider.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	end(5)
	if failed := testutil.ToFloat64(droppedExportFailed) - failedBefore; failed != 5 {
		t.Errorf("%v spans counted as refused, want 5", failed)
	}
	exporter.mu.Lock()
	exporter.fail = false
	exporter.mu.Unlock()
	end(3)
	if exported := testutil.ToFloat64(spansExported) - exportedBefore; exported != 3 || exporter.taken != 3 {
		t.Errorf("%v spans counted as exported, collector took %d; want 3", exported, exporter.taken)
	}
	if err := provider.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
