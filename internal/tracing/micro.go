package tracing

import (
	"context"
	"strings"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"
	"github.com/micro/go-micro/v2/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gomicro-stack/gomicro-stack/internal/incoming"
)

var rpcSystem = attribute.String("rpc.system", "grpc")

// ClientWrapper gives every call a client span named by its endpoint (User.GetUserInfo) and
// sends the span's context along in the call's metadata, replacing any the caller's own
// caller sent (go-micro forwards a handler's incoming metadata with its calls).
func ClientWrapper(c client.Client) client.Client { return &tracedClient{Client: c} }

type tracedClient struct{ client.Client }

func (c *tracedClient) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	ctx, span := tracer.Start(ctx, req.Endpoint(), trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(rpcSystem, attribute.String("rpc.service", req.Service()), attribute.String("rpc.method", req.Endpoint()))
	}
	err := c.Client.Call(inject(ctx), req, rsp, opts...)
	end(span, err)
	return err
}

// HandlerWrapper gives every call a service serves a server span, a child of the caller's
// span when the call's metadata carries one.
func HandlerWrapper(next server.HandlerFunc) server.HandlerFunc {
	return func(ctx context.Context, req server.Request, rsp interface{}) error {
		ctx = Propagator.Extract(ctx, incomingCarrier{ctx})
		ctx, span := tracer.Start(ctx, req.Endpoint(), trace.WithSpanKind(trace.SpanKindServer))
		if span.IsRecording() {
			span.SetAttributes(rpcSystem, attribute.String("rpc.service", req.Service()), attribute.String("rpc.method", req.Endpoint()))
		}
		err := next(ctx, req, rsp)
		end(span, err)
		return err
	}
}

// inject puts the trace context of ctx's span in its go-micro metadata.
func inject(ctx context.Context) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	md, ok := metadata.FromContext(ctx) // a copy, with every name in Title case
	if !ok {
		md = metadata.Metadata{}
	}
	Propagator.Inject(ctx, metadataCarrier(md))
	return metadata.NewContext(ctx, md)
}

// end ends span with the call's go-micro code; a failure of the callee (5xx, or no answer) is
// an error, an answer about the request (4xx) is not.
func end(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		code := merrors.FromError(err).Code
		span.SetAttributes(attribute.Int("rpc.micro.code", int(code)))
		if code == 0 || code >= 500 {
			failed(span, err)
		}
	}
	span.End()
}

// incomingCarrier reads the trace headers of the call a handler serves (package incoming).
type incomingCarrier struct{ ctx context.Context }

func (c incomingCarrier) Get(key string) string {
	v, _ := incoming.Header(c.ctx, key)
	return v
}

func (incomingCarrier) Set(string, string) {}

func (c incomingCarrier) Keys() []string { return incoming.Names(c.ctx) }

// metadataCarrier reads and writes trace headers in go-micro metadata. Names are written in
// Title case, as metadata.FromContext returns them, so that a value injected replaces the one
// received (the gRPC server receives them in lower case, and the client sends both cases).
type metadataCarrier metadata.Metadata

func (m metadataCarrier) Get(key string) string {
	if v, ok := m[title(key)]; ok {
		return v
	}
	return m[strings.ToLower(key)]
}

func (m metadataCarrier) Set(key, value string) {
	delete(m, strings.ToLower(key))
	m[title(key)] = value
}

func (m metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// title is a one-word header name in Title case (traceparent → Traceparent), as strings.Title
// writes the names metadata.FromContext returns.
func title(key string) string {
	if key == "" {
		return key
	}
	return strings.ToUpper(key[:1]) + strings.ToLower(key[1:])
}
