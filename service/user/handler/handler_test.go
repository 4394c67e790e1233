package handler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
	"github.com/gomicro-stack/gomicro-stack/service/user/account/accounttest"
)

func newHandler(t *testing.T) *User {
	t.Helper()
	accounts, _ := accounttest.NewService(t)
	return New(accounts)
}

func code(err error) int32 {
	if err == nil {
		return 0
	}
	return merrors.Parse(err.Error()).Code
}

func credentials(username, password string) (*userpb.RegisterRequest, *userpb.LoginRequest) {
	return &userpb.RegisterRequest{Username: username, Password: password}, &userpb.LoginRequest{Username: username, Password: password}
}

func TestRegisterAndLogin(t *testing.T) {
	h := newHandler(t)
	ctx := context.Background()
	register := func(u, p string) error {
		in, _ := credentials(u, p)
		var out userpb.RegisterReply
		err := h.Register(ctx, in, &out)
		if err == nil && (out.Id == 0 || out.Username != u || out.Replayed) {
			return fmt.Errorf("reply %+v", &out)
		}
		return err
	}
	login := func(u, p string) error {
		_, in := credentials(u, p)
		var out userpb.TokenReply
		err := h.Login(ctx, in, &out)
		if err == nil && (out.Token == "" || out.TokenType != "Bearer" || out.ExpiresIn < 3590 || out.RefreshToken == "") {
			return fmt.Errorf("reply %+v", &out)
		}
		return err
	}
	for _, tc := range []struct {
		name       string
		call       func() error
		wantCode   int32
		wantReason string
	}{
		{"register", func() error { return register("dora", "password1") }, 0, ""},
		{"register again", func() error { return register("dora", "password2") }, 409, "USERNAME_TAKEN"},
		{"register again in another case", func() error { return register("DORA", "password2") }, 409, "USERNAME_TAKEN"},
		// The domain keeps its rules whoever calls (the proto's are checked before, by microsvc).
		{"register bad name", func() error { return register("d", "password1") }, 400, "INVALID_ARGUMENT"},
		{"login", func() error { return login("dora", "password1") }, 0, ""},
		{"login wrong password", func() error { return login("dora", "password2") }, 401, "BAD_CREDENTIALS"},
		{"login unknown user", func() error { return login("nobody", "password1") }, 401, "BAD_CREDENTIALS"},
		{"login missing password", func() error { return login("dora", "") }, 400, "INVALID_ARGUMENT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if code(err) != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
			if e := merrors.Parse(errString(err)); err != nil && (e.Id != ServiceName || e.Status != tc.wantReason) {
				t.Fatalf("error %+v, want id %s reason %s", e, ServiceName, tc.wantReason)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestGetUserInfo(t *testing.T) {
	h := newHandler(t)
	var created userpb.RegisterReply
	if err := h.Register(context.Background(), &userpb.RegisterRequest{Username: "erin", Password: "password1"}, &created); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		wantCode int32
	}{
		{"caller the gateway signed for", auth.WithCaller(context.Background(), auth.Identity{UserID: created.Id, Username: "erin"}), 0},
		// Unsigned metadata names nobody (microsvc.VerifyCaller alone turns an assertion into a caller).
		{"unsigned identity metadata", metadata.NewContext(context.Background(), metadata.Metadata{auth.HeaderUserID: strconv.FormatUint(created.Id, 10)}), 401},
		{"no identity", context.Background(), 401},
		{"unknown user", auth.WithCaller(context.Background(), auth.Identity{UserID: 999999, Username: "ghost"}), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rsp userpb.GetUserInfoResponse
			err := h.GetUserInfo(tc.ctx, &userpb.GetUserInfoRequest{}, &rsp)
			if code(err) != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
			if err == nil && (rsp.Id != created.Id || rsp.Username != "erin" || rsp.CreatedAt == 0) {
				t.Fatalf("profile %+v", &rsp)
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	h := newHandler(t)
	ctx := context.Background()
	withKey := func(username, key string) *userpb.RegisterRequest {
		return &userpb.RegisterRequest{Username: username, Password: "password1", IdempotencyKey: key}
	}
	var first, again userpb.RegisterReply
	if err := h.Register(ctx, withKey("gina", "k-1"), &first); err != nil || first.Replayed {
		t.Fatalf("first: %v %+v", err, &first)
	}
	if err := h.Register(ctx, withKey("gina", "k-1"), &again); err != nil || again.Id != first.Id || !again.Replayed {
		t.Fatalf("retry: %v %+v, want the first answer %+v, replayed", err, &again, &first)
	}
	if err := h.Register(ctx, withKey("hank", "k-1"), &userpb.RegisterReply{}); code(err) != 422 {
		t.Fatalf("key reused for another request: %v, want 422", err)
	}
}

func TestDomainErrorsMapOnce(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int32
		status string
	}{
		{account.ErrBusy, 503, "OVERLOADED"},
		{account.ErrKeyReused, 422, "IDEMPOTENCY_KEY_REUSED"},
		{&account.LockedError{RetryAfter: time.Minute}, 429, "TOO_MANY_ATTEMPTS"},
		{fmt.Errorf("login x: %w", account.ErrBusy), 503, "OVERLOADED"},
		{errors.New("disk on fire"), 500, "INTERNAL"},
	} {
		e := merrors.Parse(toMicroError(context.Background(), tc.err).Error())
		if e.Code != tc.code || e.Status != tc.status || e.Id != ServiceName {
			t.Errorf("%v: %+v, want code %d status %q", tc.err, e, tc.code, tc.status)
		}
	}
	if toMicroError(context.Background(), nil) != nil {
		t.Error("no error became one")
	}
}

// TestSessionEndpoints: refresh, logout and delete through the handler, good and bad input,
// and the revocations the gateways read.
func TestSessionEndpoints(t *testing.T) {
	accounts, keys := accounttest.NewService(t)
	h := New(accounts)
	ctx := context.Background()
	if err := h.Register(ctx, &userpb.RegisterRequest{Username: "fay", Password: "password1"}, &userpb.RegisterReply{}); err != nil {
		t.Fatal(err)
	}
	var tokens userpb.TokenReply
	if err := h.Login(ctx, &userpb.LoginRequest{Username: "fay", Password: "password1"}, &tokens); err != nil {
		t.Fatal(err)
	}
	caller, err := keys.Verify(tokens.Token)
	if err != nil {
		t.Fatal(err)
	}
	as := auth.WithCaller(ctx, caller)
	refresh := func(token string) func(context.Context) error {
		return func(ctx context.Context) error {
			return h.Refresh(ctx, &userpb.RefreshRequest{RefreshToken: token}, &userpb.TokenReply{})
		}
	}
	logout := func(ctx context.Context) error { return h.Logout(ctx, &userpb.LogoutRequest{}, &userpb.LogoutReply{}) }
	deleteWith := func(password string) func(context.Context) error {
		return func(ctx context.Context) error {
			return h.Delete(ctx, &userpb.DeleteRequest{Password: password}, &userpb.DeleteReply{})
		}
	}
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		call     func(context.Context) error
		wantCode int32
	}{
		{"refresh without a token", ctx, refresh(""), 401},
		{"refresh with a made-up token", ctx, refresh("made-up"), 401},
		{"logout without a caller", ctx, logout, 401},
		{"delete without a caller", ctx, deleteWith("password1"), 401},
		{"delete with a wrong password", as, deleteWith("password2"), 401},
		{"delete without a password", as, deleteWith(""), 400},
		{"refresh", ctx, refresh(tokens.RefreshToken), 0},
		{"refresh with the spent token", ctx, refresh(tokens.RefreshToken), 401},
		{"logout", as, logout, 0},
		{"delete", as, deleteWith("password1"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(tc.ctx); code(err) != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
		})
	}
	var list userpb.RevocationsResponse
	if err := h.Revocations(ctx, &userpb.RevocationsRequest{}, &list); err != nil {
		t.Fatal(err)
	}
	var token, user bool
	for _, r := range list.Revocations {
		token = token || r.TokenId == caller.TokenID
		user = user || (r.UserId == caller.UserID && r.IssuedBefore > caller.TokenIssuedAt)
	}
	if !token || !user || list.NowUnixMs == 0 {
		t.Fatalf("revocations %v: logout %v, deletion %v", list.Revocations, token, user)
	}
}
