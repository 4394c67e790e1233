// Package tracing follows each request across the stack with OpenTelemetry: the gateway (and
// the config server) start a span per HTTP request or continue the caller's W3C traceparent,
// every go-micro call carries the context in its metadata and gets a client and a server span,
// and finished spans go to an OTLP collector (Jaeger) through a bounded queue that never makes
// a request wait. The trace id also reaches log lines (Printf, Log), error bodies and the
// traceparent response header, so that a user can quote it and an operator can open it.
package tracing

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config says where spans go and how many traces are kept.
type Config struct {
	Endpoint      string        `mapstructure:"endpoint" usage:"OTLP/HTTP address of the trace collector, host:port or http(s)://host:port (Jaeger: 4318); empty: spans are not exported, trace ids still reach logs, error bodies and traceparent"`
	SamplingRatio float64       `mapstructure:"sampling_ratio" default:"1" usage:"share of new traces recorded, 0 to 1 (parent-based: a service records what its caller recorded; the gateway decides for requests from outside)"`
	QueueSize     int           `mapstructure:"queue_size" default:"2048" usage:"finished spans held for export; beyond it spans are dropped and counted, never waited for"`
	ExportTimeout time.Duration `mapstructure:"export_timeout" default:"2s" usage:"longest wait for the collector to take a batch of spans"`
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.SamplingRatio < 0 || c.SamplingRatio > 1 {
		return fmt.Errorf("tracing.sampling_ratio %v: must be between 0 and 1", c.SamplingRatio)
	}
	if c.QueueSize <= 0 || c.ExportTimeout <= 0 {
		return fmt.Errorf("tracing.queue_size (%d) and tracing.export_timeout (%s) must be positive", c.QueueSize, c.ExportTimeout)
	}
	return nil
}

// Role says how a binary treats the trace context it receives.
type Role int

const (
	// Internal binaries (the services) record what their caller recorded: the gateway decided.
	Internal Role = iota
	// Edge binaries (the gateway, the config server) serve callers from outside: they keep an
	// incoming trace id, so that a caller's own trace goes on, but decide themselves whether
	// to record it. A flag in a header must not make every request recorded.
	Edge
)

// Propagator is how trace context travels: W3C Trace Context (traceparent, tracestate).
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Instrumentation names the spans' maker in the collector (the user service's query spans
// carry it too).
const Instrumentation = "github.com/gomicro-stack/gomicro-stack"

// tracer makes every span of the stack: the provider's Start installs (until then otel's
// global one, which makes spans that record nothing).
var tracer = otel.Tracer(Instrumentation)

// Failed marks span as failed with err's text.
func Failed(span trace.Span, err error) { failed(span, err) }

// shutdownTimeout bounds how long a stopping binary waits to send the spans it still holds.
const shutdownTimeout = 2 * time.Second

// Start makes the spans of the binary named service (service.name in the collector) go where
// c says, until stop, which sends what is still queued (for at most shutdownTimeout).
func Start(c Config, service string, role Role) (stop func(), err error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	options := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler(c, role))}
	if c.Endpoint != "" {
		exporter, err := newExporter(c)
		if err != nil {
			return nil, err
		}
		options = append(options, sdktrace.WithSpanProcessor(newExportQueue(exporter, c.Endpoint, c.QueueSize, c.ExportTimeout)))
	}
	provider := sdktrace.NewTracerProvider(options...)
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(Propagator)
	tracer = provider.Tracer(Instrumentation)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := provider.Shutdown(ctx); err != nil {
			log.Printf("tracing: stop: %v", err)
		}
	}, nil
}

// sampler records a c.SamplingRatio share of new traces. Without a collector nothing is
// recorded, but spans still get ids, so that logs and answers carry one.
func sampler(c Config, role Role) sdktrace.Sampler {
	if c.Endpoint == "" {
		return sdktrace.NeverSample()
	}
	ratio := sdktrace.TraceIDRatioBased(c.SamplingRatio)
	if role == Edge {
		return sdktrace.ParentBased(ratio, sdktrace.WithRemoteParentSampled(ratio), sdktrace.WithRemoteParentNotSampled(ratio))
	}
	return sdktrace.ParentBased(ratio)
}

// newExporter sends spans over OTLP/HTTP, once per batch: no retries, since the queue behind
// it must keep moving (a batch the collector did not take is counted as dropped).
func newExporter(c Config) (sdktrace.SpanExporter, error) {
	options := []otlptracehttp.Option{otlptracehttp.WithTimeout(c.ExportTimeout), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
	if strings.Contains(c.Endpoint, "://") {
		options = append(options, otlptracehttp.WithEndpointURL(strings.TrimSuffix(c.Endpoint, "/")+"/v1/traces"))
	} else {
		options = append(options, otlptracehttp.WithEndpoint(c.Endpoint), otlptracehttp.WithInsecure())
	}
	exporter, err := otlptracehttp.New(context.Background(), options...)
	if err != nil {
		return nil, fmt.Errorf("tracing.endpoint %s: %w", c.Endpoint, err)
	}
	return exporter, nil
}

// TraceID is the id of the trace ctx's span belongs to, in hex; empty when there is none.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// Traceparent is the W3C traceparent header of span context sc (version 00), empty if invalid.
func Traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// TraceIDOfTraceparent is the trace id a traceparent header names, empty if malformed.
func TraceIDOfTraceparent(header string) string {
	ctx := Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": header})
	return TraceID(ctx)
}

// failed marks span as failed with err's text.
func failed(span trace.Span, err error) {
	span.SetStatus(codes.Error, err.Error())
}
