// Package handler is the greeter's transport: it implements the generated go-micro handler,
// converting between the protobuf messages and the greeting package, and maps domain errors to
// reasons in one place.
package handler

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
)

// ServiceName is the greeter's registry name.
const ServiceName = names.Greeter

// Greeter serves Greeter.Hello.
type Greeter struct {
	greeter *greeting.Greeter
}

var _ greeterpb.GreeterHandler = (*Greeter)(nil)

// New returns the handler over the greeting rules.
func New(g *greeting.Greeter) *Greeter { return &Greeter{greeter: g} }

// Hello greets in.name on behalf of the caller: the caller's id, username and logins, or, when
// the user service could not answer, the username the token names and degraded.
func (h *Greeter) Hello(ctx context.Context, in *greeterpb.HelloRequest, out *greeterpb.HelloReply) error {
	// Only the gateway's signed word says who calls (microsvc.VerifyCaller checked it).
	if _, ok := auth.CallerFrom(ctx); !ok {
		return toMicroError(ctx, greeting.ErrNotAuthenticated)
	}
	hello, err := h.greeter.Hello(ctx, in.GetName())
	if err != nil {
		return toMicroError(ctx, err)
	}
	out.Username, out.Greeting, out.SettingMessage = hello.Caller.Username, hello.Greeting, hello.SettingMessage
	if hello.Caller.Degraded {
		// The user service could not answer: what the token says, and nothing more.
		out.Degraded = wrapperspb.Bool(true)
		trace.SpanFromContext(ctx).SetAttributes(degradedAnswer)
		return nil
	}
	out.Id, out.Logins = wrapperspb.UInt64(hello.Caller.ID), wrapperspb.Int64(hello.Logins)
	return nil
}

// degradedAnswer marks the span of a hello answered from the token alone.
var degradedAnswer = attribute.Bool("greeter.degraded", true)

// toMicroError is the one place where greeting errors become go-micro errors.
func toMicroError(ctx context.Context, err error) error {
	return rpcerror.Translate(ctx, ServiceName, err, errorRules)
}

var errorRules = []rpcerror.Rule{
	{Is: greeting.ErrInvalidName, Reason: apipb.Reason_INVALID_ARGUMENT},
	{Is: greeting.ErrNotAuthenticated, Reason: apipb.Reason_UNAUTHENTICATED},
	{Is: greeting.ErrUnknownCaller, Reason: apipb.Reason_NOT_FOUND},
	{Is: greeting.ErrDirectoryUnavailable, Reason: apipb.Reason_UNAVAILABLE},
}
