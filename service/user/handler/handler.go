// Package handler is the user service's transport: it implements the generated go-micro
// handler, converting between the protobuf messages and the account package, and maps domain
// errors to reasons in one place. (The gateway turns JSON into the messages and back, and
// the proto's validation rules are checked before a handler runs: microsvc.)
package handler

import (
	"context"
	"errors"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
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

// Register creates an account: 201 {id, username}; a replayed answer says so in a header.
func (h *User) Register(ctx context.Context, in *userpb.RegisterRequest, out *userpb.RegisterReply) error {
	r, err := h.accounts.Register(ctx, in.GetUsername(), in.GetPassword(), in.GetIdempotencyKey())
	if err != nil {
		return toMicroError(ctx, err)
	}
	out.Id, out.Username, out.Replayed = r.ID, r.Username, r.Replayed
	return nil
}

// Login checks credentials and answers a session's tokens.
func (h *User) Login(ctx context.Context, in *userpb.LoginRequest, out *userpb.TokenReply) error {
	tokens, _, err := h.accounts.Login(ctx, in.GetUsername(), in.GetPassword())
	if err != nil {
		return toMicroError(ctx, err)
	}
	fillTokens(out, tokens)
	return nil
}

func fillTokens(out *userpb.TokenReply, t account.Tokens) {
	out.Token = t.Access
	out.TokenType = "Bearer"
	out.ExpiresIn = int64(time.Until(t.AccessExpiry).Round(time.Second) / time.Second)
	out.RefreshToken = t.Refresh
}

// Refresh trades a refresh token for new tokens, as Login answers them.
func (h *User) Refresh(ctx context.Context, in *userpb.RefreshRequest, out *userpb.TokenReply) error {
	tokens, err := h.accounts.Refresh(ctx, in.GetRefreshToken())
	if err != nil {
		return toMicroError(ctx, err)
	}
	fillTokens(out, tokens)
	return nil
}

// Logout revokes the caller's access token and the given refresh token.
func (h *User) Logout(ctx context.Context, in *userpb.LogoutRequest, _ *userpb.LogoutReply) error {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return toMicroError(ctx, account.ErrNoCaller)
	}
	return toMicroError(ctx, h.accounts.Logout(ctx, caller, in.GetRefreshToken()))
}

// Delete removes the caller's account.
func (h *User) Delete(ctx context.Context, in *userpb.DeleteRequest, _ *userpb.DeleteReply) error {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return toMicroError(ctx, account.ErrNoCaller)
	}
	return toMicroError(ctx, h.accounts.Delete(ctx, caller, in.GetPassword()))
}

// Revocations lists the revocations recorded since the request's time.
func (h *User) Revocations(ctx context.Context, req *userpb.RevocationsRequest, rsp *userpb.RevocationsResponse) error {
	list, now, err := h.accounts.Revocations(ctx, time.UnixMilli(req.GetSinceUnixMs()))
	if err != nil {
		return toMicroError(ctx, err)
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
		return toMicroError(ctx, account.ErrNoCaller)
	}
	u, err := h.accounts.Profile(ctx, caller.UserID)
	if err != nil {
		return toMicroError(ctx, err)
	}
	rsp.Id, rsp.Username, rsp.CreatedAt = u.ID, u.Username, u.CreatedAt.Unix()
	return nil
}

// errorRules give the reason of each account error.
var errorRules = []rpcerror.Rule{
	{As: invalidInput, Reason: apipb.Reason_INVALID_ARGUMENT},
	{Is: account.ErrUsernameTaken, Reason: apipb.Reason_USERNAME_TAKEN},
	{Is: account.ErrBadCredentials, Reason: apipb.Reason_BAD_CREDENTIALS},
	{Is: account.ErrBadRefresh, Reason: apipb.Reason_BAD_REFRESH_TOKEN},
	{Is: account.ErrRefreshReused, Reason: apipb.Reason_BAD_REFRESH_TOKEN},
	{Is: account.ErrNoCaller, Reason: apipb.Reason_UNAUTHENTICATED},
	{Is: account.ErrNotYours, Reason: apipb.Reason_PERMISSION_DENIED},
	{Is: account.ErrNotFound, Reason: apipb.Reason_NOT_FOUND},
	{Is: account.ErrKeyReused, Reason: apipb.Reason_IDEMPOTENCY_KEY_REUSED},
	{As: locked, Reason: apipb.Reason_TOO_MANY_ATTEMPTS},
	// Shedding load is not a failure of the service: breakers do not count it.
	{Is: account.ErrBusy, Reason: apipb.Reason_OVERLOADED},
}

func locked(err error) (string, bool) {
	var l *account.LockedError
	if errors.As(err, &l) {
		return l.Error(), true
	}
	return "", false
}

func invalidInput(err error) (string, bool) {
	var invalid *account.InvalidInputError
	if errors.As(err, &invalid) {
		return invalid.Error(), true
	}
	return "", false
}

// toMicroError is err as the service answers it (nil stays nil).
func toMicroError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	return rpcerror.Translate(ctx, ServiceName, err, errorRules)
}
