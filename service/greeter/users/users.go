// Package users adapts the user service's generated client to greeting.Directory, so the
// greeter's rules speak of callers, not of protobuf requests.
package users

import (
	"context"
	"net/http"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
)

// ServiceName is the registry name of the user service.
const ServiceName = names.User

// Directory looks callers up in the user service.
type Directory struct {
	users userpb.UserService
}

var _ greeting.Directory = (*Directory)(nil)

// NewDirectory calls the user service through c. The caller's identity travels in the
// context's metadata, which go-micro forwards with the call.
func NewDirectory(c client.Client) *Directory {
	return &Directory{users: userpb.NewUserService(ServiceName, c)}
}

// Caller asks the user service for the profile of the request's caller. When the call's
// breaker answered with ProfileFromToken instead, the caller is marked degraded.
func (d *Directory) Caller(ctx context.Context) (greeting.Caller, error) {
	var outcome breaker.Outcome
	rsp, err := d.users.GetUserInfo(breaker.Track(ctx, &outcome), &userpb.GetUserInfoRequest{})
	if err != nil {
		return greeting.Caller{}, classify(ctx, err)
	}
	return greeting.Caller{ID: rsp.GetId(), Username: rsp.GetUsername(), Degraded: outcome.Degraded()}, nil
}

// GetUserInfoCommand is the hystrix command of User.GetUserInfo calls.
var GetUserInfoCommand = breaker.CommandName(ServiceName, "User.GetUserInfo")

// ProfileFromToken is the fallback of GetUserInfoCommand: the identity the gateway took from
// the caller's verified token and signed for this call. Without it there is nothing to offer.
func ProfileFromToken(ctx context.Context, _ client.Request, rsp interface{}, cause error) error {
	caller, ok := auth.CallerFrom(ctx)
	profile, okRsp := rsp.(*userpb.GetUserInfoResponse)
	if !ok || !okRsp {
		return cause
	}
	profile.Id, profile.Username = caller.UserID, caller.Username
	tracing.Log(ctx).Warnf("user service unavailable (%v): answering from the token", cause)
	return nil
}

// classify turns the user service's answer into the greeter's domain errors. Anything that is
// not a clear answer about the caller means the dependency is unhealthy.
func classify(ctx context.Context, err error) error {
	switch merrors.Parse(err.Error()).Code {
	case http.StatusNotFound:
		return greeting.ErrUnknownCaller
	case http.StatusUnauthorized:
		return greeting.ErrNotAuthenticated
	default:
		tracing.Log(ctx).Warnf("user service call failed: %v", err)
		return greeting.ErrDirectoryUnavailable
	}
}
