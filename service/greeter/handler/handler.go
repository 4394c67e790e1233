// Package handler is the greeter's transport: it implements the generated go-micro handler,
// converting between the API request/response and the greeting package, and maps domain errors
// to go-micro errors in one place.
package handler

import (
	"context"
	"net/http"

	api "github.com/micro/go-micro/v2/api/proto"

	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
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

// Hello answers {code, message, id, username, greeting, setting_message, logins}, or, when the
// user service could not answer, {code, message, username, greeting, setting_message,
// degraded: true}.
func (h *Greeter) Hello(ctx context.Context, req *api.Request, rsp *api.Response) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := apijson.Decode(ServiceName, req, &in); err != nil {
		return err
	}
	// Only the gateway's signed word says who calls (auth.HandlerWrapper checked it).
	if _, ok := auth.CallerFrom(ctx); !ok {
		return toMicroError(greeting.ErrNotAuthenticated)
	}
	hello, err := h.greeter.Hello(ctx, in.Name)
	if err != nil {
		return toMicroError(err)
	}
	if hello.Caller.Degraded {
		// The user service could not answer: what the token says, and nothing more.
		return apijson.Write(rsp, http.StatusOK,
			apijson.Field{Name: "username", Value: hello.Caller.Username},
			apijson.Field{Name: "greeting", Value: hello.Greeting},
			apijson.Field{Name: "setting_message", Value: hello.SettingMessage},
			apijson.Field{Name: "degraded", Value: true})
	}
	return apijson.Write(rsp, http.StatusOK,
		apijson.Field{Name: "id", Value: hello.Caller.ID},
		apijson.Field{Name: "username", Value: hello.Caller.Username},
		apijson.Field{Name: "greeting", Value: hello.Greeting},
		apijson.Field{Name: "setting_message", Value: hello.SettingMessage},
		apijson.Field{Name: "logins", Value: hello.Logins})
}

// toMicroError is the one place where greeting errors become go-micro errors with HTTP codes.
func toMicroError(err error) error { return rpcerror.Translate(ServiceName, err, errorRules) }

var errorRules = []rpcerror.Rule{
	{Is: greeting.ErrInvalidName, Code: http.StatusBadRequest},
	{Is: greeting.ErrNotAuthenticated, Code: http.StatusUnauthorized},
	{Is: greeting.ErrUnknownCaller, Code: http.StatusNotFound},
	{Is: greeting.ErrDirectoryUnavailable, Code: http.StatusServiceUnavailable},
}
