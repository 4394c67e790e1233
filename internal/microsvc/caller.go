package microsvc

import (
	"context"
	"strings"

	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/server"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/incoming"
)

// VerifyCaller verifies the assertion each call carries (auth.HeaderAssertion) and puts its
// identity in the context (auth.CallerFrom); a call with an assertion that fails is refused
// with 401, whatever it asked. A call without one goes on without an identity: endpoints that
// need one refuse it. It lives here, not in auth, so that the domain packages that use auth's
// tokens link no go-micro.
func VerifyCaller(service string, v *auth.Verifier) Option {
	return WrapHandler(callerWrapper(service, v))
}

func callerWrapper(service string, v *auth.Verifier) server.HandlerWrapper {
	// As gRPC holds header names: lowered once, not on every call.
	header := strings.ToLower(auth.HeaderAssertion)
	return func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp interface{}) error {
			token, ok := incoming.Header(ctx, header)
			if !ok || token == "" {
				return next(ctx, req, rsp)
			}
			id, err := v.Verify(token)
			if err != nil {
				return merrors.Unauthorized(service, "the caller's identity is not signed by the gateway")
			}
			return next(auth.WithCaller(ctx, id), req, rsp)
		}
	}
}
