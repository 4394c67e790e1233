package microsvc

import (
	"context"

	"github.com/micro/go-micro/v2/server"
	"google.golang.org/protobuf/proto"

	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// ValidateRequests answers INVALID_ARGUMENT (400), without calling the handler, to a request
// that breaks the validation rules of its proto. The gateway checks the same rules before it
// calls; this is for every other caller, which a service trusts no more.
func ValidateRequests(service string) server.HandlerWrapper {
	return func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp interface{}) error {
			if msg, ok := req.Body().(proto.Message); ok {
				if err := apispec.Validate(msg); err != nil {
					return rpcerror.New(service, apipb.Reason_INVALID_ARGUMENT, err.Error())
				}
			}
			return next(ctx, req, rsp)
		}
	}
}
