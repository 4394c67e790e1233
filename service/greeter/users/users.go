// Package users adapts the user service's generated client to greeting.Directory, so the
// greeter's rules speak of callers, not of protobuf requests.
package users

import (
	"context"
	"net/http"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/logger"

	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
)

// ServiceName is the registry name of the user service.
const ServiceName = "go.micro.api.user"

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

// Caller asks the user service for the profile of the request's caller.
func (d *Directory) Caller(ctx context.Context) (greeting.Caller, error) {
	rsp, err := d.users.GetUserInfo(ctx, &userpb.GetUserInfoRequest{})
	if err != nil {
		return greeting.Caller{}, classify(err)
	}
	return greeting.Caller{ID: rsp.GetId(), Username: rsp.GetUsername()}, nil
}

// classify turns the user service's answer into the greeter's domain errors. Anything that is
// not a clear answer about the caller means the dependency is unhealthy.
func classify(err error) error {
	switch merrors.Parse(err.Error()).Code {
	case http.StatusNotFound:
		return greeting.ErrUnknownCaller
	case http.StatusUnauthorized:
		return greeting.ErrNotAuthenticated
	default:
		logger.Warnf("user service call failed: %v", err)
		return greeting.ErrDirectoryUnavailable
	}
}
