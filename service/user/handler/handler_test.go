package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	api "github.com/micro/go-micro/v2/api/proto"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
	"github.com/gomicro-stack/gomicro-stack/service/user/account/accounttest"
)

func newHandler(t *testing.T) *User {
	t.Helper()
	accounts, _ := accounttest.NewService(t)
	return New(accounts)
}

func jsonRequest(body string) *api.Request {
	return &api.Request{Method: "POST", Body: body, Header: map[string]*api.Pair{
		"Content-Type": {Key: "Content-Type", Values: []string{"application/json"}},
	}}
}

func code(err error) int32 {
	if err == nil {
		return 0
	}
	return merrors.Parse(err.Error()).Code
}

func TestRegisterAndLogin(t *testing.T) {
	h := newHandler(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		call     func(context.Context, *api.Request, *api.Response) error
		body     string
		wantCode int32
		wantHTTP int32
	}{
		{"register", h.Register, `{"username":"dora","password":"password1"}`, 0, 201},
		{"register again", h.Register, `{"username":"dora","password":"password2"}`, 409, 0},
		{"register bad name", h.Register, `{"username":"d","password":"password1"}`, 400, 0},
		{"register bad JSON", h.Register, `{"username":`, 400, 0},
		{"login", h.Login, `{"username":"dora","password":"password1"}`, 0, 200},
		{"login wrong password", h.Login, `{"username":"dora","password":"password2"}`, 401, 0},
		{"login unknown user", h.Login, `{"username":"nobody","password":"password1"}`, 401, 0},
		{"login missing password", h.Login, `{"username":"dora"}`, 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rsp api.Response
			err := tc.call(ctx, jsonRequest(tc.body), &rsp)
			if code(err) != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
			if err != nil {
				if id := merrors.Parse(err.Error()).Id; id != ServiceName {
					t.Fatalf("error id %q", id)
				}
				return
			}
			if rsp.StatusCode != tc.wantHTTP {
				t.Fatalf("status %d", rsp.StatusCode)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(rsp.Body), &body); err != nil {
				t.Fatal(err)
			}
			if body["code"] != 0.0 || body["message"] != "ok" || strings.Contains(rsp.Body, "password") {
				t.Fatalf("body %s", rsp.Body)
			}
		})
	}
}

func TestGetUserInfo(t *testing.T) {
	h := newHandler(t)
	var reg api.Response
	if err := h.Register(context.Background(), jsonRequest(`{"username":"erin","password":"password1"}`), &reg); err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID uint64 `json:"id"`
	}
	json.Unmarshal([]byte(reg.Body), &created)

	for _, tc := range []struct {
		name     string
		ctx      context.Context
		wantCode int32
	}{
		{"caller the gateway signed for", auth.WithCaller(context.Background(), auth.Identity{UserID: created.ID, Username: "erin"}), 0},
		// Unsigned metadata names nobody (auth.HandlerWrapper alone turns an assertion into a caller).
		{"unsigned identity metadata", metadata.NewContext(context.Background(), metadata.Metadata{auth.HeaderUserID: strconv.FormatUint(created.ID, 10)}), 401},
		{"no identity", context.Background(), 401},
		{"unknown user", auth.WithCaller(context.Background(), auth.Identity{UserID: 999999, Username: "ghost"}), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rsp userpb.GetUserInfoResponse
			err := h.GetUserInfo(tc.ctx, &userpb.GetUserInfoRequest{}, &rsp)
			if code(err) != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
			if err == nil && (rsp.Id != created.ID || rsp.Username != "erin" || rsp.CreatedAt == 0) {
				t.Fatalf("profile %+v", &rsp)
			}
		})
	}
}

func TestIdempotencyKeyHeader(t *testing.T) {
	h := newHandler(t)
	ctx := context.Background()
	withKey := func(key string) *api.Request {
		req := jsonRequest(`{"username":"gina","password":"password1"}`)
		req.Header[IdempotencyKeyHeader] = &api.Pair{Key: IdempotencyKeyHeader, Values: []string{key}}
		return req
	}
	var first, again api.Response
	if err := h.Register(ctx, withKey("k-1"), &first); err != nil || first.Header[ReplayedHeader] != nil {
		t.Fatalf("first: %v %v", err, first.Header)
	}
	if err := h.Register(ctx, withKey("k-1"), &again); err != nil || again.StatusCode != 201 || again.Body != first.Body {
		t.Fatalf("retry: %v %d %s, want the first answer %s", err, again.StatusCode, again.Body, first.Body)
	}
	if p := again.Header[ReplayedHeader]; p == nil || p.Values[0] != "true" {
		t.Fatalf("retry not marked as replayed: %v", again.Header)
	}
	reused := jsonRequest(`{"username":"hank","password":"password1"}`)
	reused.Header[IdempotencyKeyHeader] = withKey("k-1").Header[IdempotencyKeyHeader]
	if err := h.Register(ctx, reused, &api.Response{}); code(err) != 422 {
		t.Fatalf("key reused for another request: %v, want 422", err)
	}
}

func TestDomainErrorsMapOnce(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int32
		status string
	}{
		{account.ErrBusy, 503, breaker.StatusShedding},
		{account.ErrKeyReused, 422, ""},
		{fmt.Errorf("login x: %w", account.ErrBusy), 503, breaker.StatusShedding},
		{errors.New("disk on fire"), 500, "Internal Server Error"},
	} {
		e := merrors.Parse(toMicroError(tc.err).Error())
		if e.Code != tc.code || (tc.status != "" && e.Status != tc.status) || e.Id != ServiceName {
			t.Errorf("%v: %+v, want code %d status %q", tc.err, e, tc.code, tc.status)
		}
	}
}

// TestSessionEndpoints: refresh, logout and delete through the handler, good and bad input,
// and the revocations the gateways read.
func TestSessionEndpoints(t *testing.T) {
	accounts, keys := accounttest.NewService(t)
	h := New(accounts)
	ctx := context.Background()
	if err := h.Register(ctx, jsonRequest(`{"username":"fay","password":"password1"}`), &api.Response{}); err != nil {
		t.Fatal(err)
	}
	var login api.Response
	if err := h.Login(ctx, jsonRequest(`{"username":"fay","password":"password1"}`), &login); err != nil {
		t.Fatal(err)
	}
	var tokens struct {
		Token        string `json:"token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(login.Body), &tokens); err != nil || tokens.TokenType != "Bearer" || tokens.ExpiresIn < 3590 || tokens.RefreshToken == "" {
		t.Fatalf("login body %s (%v)", login.Body, err)
	}
	if login.Header["Cache-Control"].GetValues()[0] != "no-store" {
		t.Fatal("tokens without Cache-Control: no-store")
	}
	caller, err := keys.Verify(tokens.Token)
	if err != nil {
		t.Fatal(err)
	}
	as := auth.WithCaller(ctx, caller)

	for _, tc := range []struct {
		name     string
		ctx      context.Context
		call     func(context.Context, *api.Request, *api.Response) error
		body     string
		wantCode int32
	}{
		{"refresh without a token", ctx, h.Refresh, `{}`, 400},
		{"refresh with bad JSON", ctx, h.Refresh, `{"refresh_token":`, 400},
		{"refresh with a made-up token", ctx, h.Refresh, `{"refresh_token":"made-up"}`, 401},
		{"logout without a caller", ctx, h.Logout, `{}`, 401},
		{"logout with bad JSON", as, h.Logout, `[`, 400},
		{"delete without a caller", ctx, h.Delete, `{"password":"password1"}`, 401},
		{"delete with a wrong password", as, h.Delete, `{"password":"password2"}`, 401},
		{"delete without a password", as, h.Delete, `{}`, 400},
		{"refresh", ctx, h.Refresh, `{"refresh_token":"` + tokens.RefreshToken + `"}`, 0},
		{"refresh with the spent token", ctx, h.Refresh, `{"refresh_token":"` + tokens.RefreshToken + `"}`, 401},
		{"logout", as, h.Logout, ``, 0},
		{"delete", as, h.Delete, `{"password":"password1"}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rsp api.Response
			err := tc.call(tc.ctx, jsonRequest(tc.body), &rsp)
			if code(err) != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
			if err == nil && rsp.StatusCode != 200 {
				t.Fatalf("status %d", rsp.StatusCode)
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
