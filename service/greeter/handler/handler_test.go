package handler

import (
	"context"
	"testing"

	api "github.com/micro/go-micro/v2/api/proto"
	merrors "github.com/micro/go-micro/v2/errors"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
)

type directory struct {
	caller greeting.Caller
	err    error
}

func (d directory) Caller(context.Context) (greeting.Caller, error) { return d.caller, d.err }

type activity struct{}

func (activity) Logins(uint64) int64 { return 5 }

func TestHello(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dir      directory
		body     string
		wantCode int32
		wantBody string
		// anonymous: no caller signed by the gateway in the context
		anonymous bool
	}{
		{"ok", directory{caller: greeting.Caller{ID: 4, Username: "dora"}}, `{"name":"Bob"}`, 0,
			`{"code":0,"message":"ok","id":4,"username":"dora","greeting":"Hello Bob","setting_message":"configured","logins":5}`, false},
		{"degraded", directory{caller: greeting.Caller{ID: 4, Username: "dora", Degraded: true}}, `{"name":"Bob"}`, 0,
			`{"code":0,"message":"ok","username":"dora","greeting":"Hello Bob","setting_message":"configured","degraded":true}`, false},
		{"bad name", directory{}, `{"name":""}`, 400, "", false},
		{"bad JSON", directory{}, `{`, 400, "", false},
		{"unknown caller", directory{err: greeting.ErrUnknownCaller}, `{"name":"Bob"}`, 404, "", false},
		{"no identity", directory{err: greeting.ErrNotAuthenticated}, `{"name":"Bob"}`, 401, "", false},
		{"user service down", directory{err: greeting.ErrDirectoryUnavailable}, `{"name":"Bob"}`, 503, "", false},
		{"no caller signed by the gateway", directory{caller: greeting.Caller{ID: 4, Username: "dora"}}, `{"name":"Bob"}`, 401, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(greeting.NewGreeter(tc.dir, activity{}, func() string { return "configured" }))
			req := &api.Request{Method: "POST", Body: tc.body, Header: map[string]*api.Pair{
				"Content-Type": {Key: "Content-Type", Values: []string{"application/json"}},
			}}
			var rsp api.Response
			ctx := auth.WithCaller(context.Background(), auth.Identity{UserID: 4, Username: "dora"})
			if tc.anonymous {
				ctx = context.Background()
			}
			err := h.Hello(ctx, req, &rsp)
			var got int32
			if err != nil {
				got = merrors.Parse(err.Error()).Code
			}
			if got != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
			if tc.wantBody != "" && (rsp.Body != tc.wantBody || rsp.StatusCode != 200) {
				t.Fatalf("%d %s", rsp.StatusCode, rsp.Body)
			}
		})
	}
}
