// Package handler is the user service's transport: it implements the generated go-micro
// handler, converting between protobuf/JSON and the account package, and maps domain errors to
// go-micro errors in one place.
package handler

import (
	"context"
	"errors"
	"net/http"
	"time"

	api "github.com/micro/go-micro/v2/api/proto"

	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// ServiceName is the user service's registry name.
const ServiceName = names.User

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

// Login checks credentials: 200 {code, message, token, token_type, expires_in, refresh_token}.
func (h *User) Login(ctx context.Context, req *api.Request, rsp *api.Response) error {
	var in credentials
	if err := apijson.Decode(ServiceName, req, &in); err != nil {
		return err
	}
	tokens, _, err := h.accounts.Login(ctx, in.Username, in.Password)
	if err != nil {
		return toMicroError(err)
	}
	return writeTokens(rsp, tokens)
}

// writeTokens answers a session's tokens as OAuth 2.0 names them (RFC 6749 §5.1), the access
// token also as token, its name since the first version.
func writeTokens(rsp *api.Response, t account.Tokens) error {
	err := apijson.Write(rsp, http.StatusOK,
		apijson.Field{Name: "token", Value: t.Access},
		apijson.Field{Name: "token_type", Value: "Bearer"},
		apijson.Field{Name: "expires_in", Value: int64(time.Until(t.AccessExpiry).Round(time.Second) / time.Second)},
		apijson.Field{Name: "refresh_token", Value: t.Refresh})
	// No cache may keep tokens (RFC 6749 §5.1).
	rsp.Header["Cache-Control"] = &api.Pair{Key: "Cache-Control", Values: []string{"no-store"}}
	return err
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Refresh trades a refresh token: 200 with new tokens, as Login.
func (h *User) Refresh(ctx context.Context, req *api.Request, rsp *api.Response) error {
	var in refreshRequest
	if err := apijson.Decode(ServiceName, req, &in); err != nil {
		return err
	}
	if in.RefreshToken == "" {
		return toMicroError(&account.InvalidInputError{Field: "refresh_token", Reason: "is required"})
	}
	tokens, err := h.accounts.Refresh(ctx, in.RefreshToken)
	if err != nil {
		return toMicroError(err)
	}
	return writeTokens(rsp, tokens)
}

// Logout revokes the caller's access token and the given refresh token: 200 {code, message}.
func (h *User) Logout(ctx context.Context, req *api.Request, rsp *api.Response) error {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return toMicroError(account.ErrNoCaller)
	}
	var in refreshRequest
	if req.GetBody() != "" {
		if err := apijson.Decode(ServiceName, req, &in); err != nil {
			return err
		}
	}
	if err := h.accounts.Logout(ctx, caller, in.RefreshToken); err != nil {
		return toMicroError(err)
	}
	return apijson.Write(rsp, http.StatusOK)
}

type deleteRequest struct {
	Password string `json:"password"`
}

// Delete removes the caller's account: 200 {code, message}.
func (h *User) Delete(ctx context.Context, req *api.Request, rsp *api.Response) error {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return toMicroError(account.ErrNoCaller)
	}
	var in deleteRequest
	if err := apijson.Decode(ServiceName, req, &in); err != nil {
		return err
	}
	if err := h.accounts.Delete(ctx, caller, in.Password); err != nil {
		return toMicroError(err)
	}
	return apijson.Write(rsp, http.StatusOK)
}

// Revocations lists the revocations recorded since the request's time.
func (h *User) Revocations(ctx context.Context, req *userpb.RevocationsRequest, rsp *userpb.RevocationsResponse) error {
	list, now, err := h.accounts.Revocations(ctx, time.UnixMilli(req.GetSinceUnixMs()))
	if err != nil {
		return toMicroError(err)
	}
	rsp.NowUnixMs = now.UnixMilli()
	rsp.Revocations = make([]*userpb.Revocation, len(list))
	for i, r := range list {
		rsp.Revocations[i] = &userpb.Revocation{TokenId: r.TokenID, UserId: r.UserID, IssuedBefore: r.IssuedBefore, Until: r.Until.Unix()}
	}
	return nil
}

// GetUserInfo returns the profile of the caller the gateway's signed assertion names.
func (h *User) GetUserInfo(ctx context.Context, _ *userpb.GetUserInfoRequest, rsp *userpb.GetUserInfoResponse) error {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return toMicroError(account.ErrNoCaller)
	}
	u, err := h.accounts.Profile(ctx, caller.UserID)
	if err != nil {
		return toMicroError(err)
	}
	rsp.Id, rsp.Username, rsp.CreatedAt = u.ID, u.Username, u.CreatedAt.Unix()
	return nil
}

// errorRules map account errors to go-micro errors with HTTP codes.
var errorRules = []rpcerror.Rule{
	{As: invalidInput, Code: http.StatusBadRequest},
	{Is: account.ErrUsernameTaken, Code: http.StatusConflict},
	{Is: account.ErrBadCredentials, Code: http.StatusUnauthorized},
	{Is: account.ErrBadRefresh, Code: http.StatusUnauthorized},
	{Is: account.ErrRefreshReused, Code: http.StatusUnauthorized},
	{Is: account.ErrNoCaller, Code: http.StatusUnauthorized},
	{Is: account.ErrNotYours, Code: http.StatusForbidden},
	{Is: account.ErrNotFound, Code: http.StatusNotFound},
	{Is: account.ErrKeyReused, Code: http.StatusUnprocessableEntity},
	// Shedding load is not a failure of the service: breakers do not count it.
	{Is: account.ErrBusy, Code: http.StatusServiceUnavailable, Status: breaker.StatusShedding},
}

func invalidInput(err error) (string, bool) {
	var invalid *account.InvalidInputError
	if errors.As(err, &invalid) {
		return invalid.Error(), true
	}
	return "", false
}

func toMicroError(err error) error { return rpcerror.Translate(ServiceName, err, errorRules) }
