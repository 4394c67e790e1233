// Package handler is the user service's transport: it implements the generated go-micro
// handler, converting between protobuf/JSON and the account package, and maps domain errors to
// go-micro errors in one place.
package handler

import (
	"context"
	"errors"
	"net/http"

	api "github.com/micro/go-micro/v2/api/proto"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/logger"

	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// ServiceName is the user service's registry name.
const ServiceName = "go.micro.api.user"

// User serves the User endpoints.
type User struct {
	accounts *account.Service
}

var _ userpb.UserHandler = (*User)(nil)

// New returns the handler over the account use cases.
func New(accounts *account.Service) *User { return &User{accounts: accounts} }

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Register creates an account: 201 {code, message, id, username}.
func (h *User) Register(ctx context.Context, req *api.Request, rsp *api.Response) error {
	var in credentials
	if err := apijson.Decode(ServiceName, req, &in); err != nil {
		return err
	}
	key := header(req, IdempotencyKeyHeader)
	r, err := h.accounts.Register(ctx, in.Username, in.Password, key)
	if err != nil {
		return toMicroError(err)
	}
	if err := apijson.Write(rsp, http.StatusCreated,
		apijson.Field{Name: "id", Value: r.ID},
		apijson.Field{Name: "username", Value: r.Username}); err != nil {
		return err
	}
	if r.Replayed {
		rsp.Header[ReplayedHeader] = &api.Pair{Key: ReplayedHeader, Values: []string{"true"}}
	}
	return nil
}

// IdempotencyKeyHeader carries a client's key for a registration: a retry with the same key
// gets the first answer. ReplayedHeader marks such a repeated answer.
const (
	IdempotencyKeyHeader = "Idempotency-Key"
	ReplayedHeader       = "Idempotent-Replayed"
)

// header is the first value of the request header name (as net/http spells it), or "".
func header(req *api.Request, name string) string {
	if p := req.GetHeader()[name]; p != nil && len(p.GetValues()) > 0 {
		return p.GetValues()[0]
	}
	return ""
}

// Login checks credentials: 200 {code, message, token}.
func (h *User) Login(ctx context.Context, req *api.Request, rsp *api.Response) error {
	var in credentials
	if err := apijson.Decode(ServiceName, req, &in); err != nil {
		return err
	}
	token, _, err := h.accounts.Login(ctx, in.Username, in.Password)
	if err != nil {
		return toMicroError(err)
	}
	return apijson.Write(rsp, http.StatusOK, apijson.Field{Name: "token", Value: token})
}

// GetUserInfo returns the profile of the caller the gateway's signed assertion names.
func (h *User) GetUserInfo(ctx context.Context, _ *userpb.GetUserInfoRequest, rsp *userpb.GetUserInfoResponse) error {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return merrors.Unauthorized(ServiceName, "caller identity missing")
	}
	u, err := h.accounts.Profile(ctx, caller.UserID)
	if err != nil {
		return toMicroError(err)
	}
	rsp.Id, rsp.Username, rsp.CreatedAt = u.ID, u.Username, u.CreatedAt.Unix()
	return nil
}

// toMicroError is the one place where account errors become go-micro errors with HTTP codes.
func toMicroError(err error) error {
	var invalid *account.InvalidInputError
	switch {
	case errors.As(err, &invalid):
		return merrors.BadRequest(ServiceName, "%s", invalid.Error())
	case errors.Is(err, account.ErrUsernameTaken):
		return merrors.Conflict(ServiceName, "%s", account.ErrUsernameTaken.Error())
	case errors.Is(err, account.ErrBadCredentials):
		return merrors.Unauthorized(ServiceName, "%s", account.ErrBadCredentials.Error())
	case errors.Is(err, account.ErrNotFound):
		return merrors.NotFound(ServiceName, "%s", account.ErrNotFound.Error())
	case errors.Is(err, account.ErrKeyReused):
		return merrors.New(ServiceName, account.ErrKeyReused.Error(), http.StatusUnprocessableEntity)
	case errors.Is(err, account.ErrBusy):
		return breaker.Shedding(ServiceName, "%s", account.ErrBusy.Error())
	default:
		// Details stay in our log; the client learns only that it was our fault.
		logger.Errorf("internal error: %v", err)
		return merrors.InternalServerError(ServiceName, "internal error")
	}
}
