package handler

import (
	"context"
	"testing"

	merrors "github.com/micro/go-micro/v2/errors"

	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
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
		greet    string
		wantCode int32
		wantBody string
		// anonymous: no caller signed by the gateway in the context
		anonymous bool
	}{
		{"ok", directory{caller: greeting.Caller{ID: 4, Username: "dora"}}, "Bob", 0,
			`{"code":0,"message":"ok","id":4,"username":"dora","greeting":"Hello Bob","setting_message":"configured","logins":5}`, false},
		{"degraded", directory{caller: greeting.Caller{ID: 4, Username: "dora", Degraded: true}}, "Bob", 0,
			`{"code":0,"message":"ok","username":"dora","greeting":"Hello Bob","setting_message":"configured","degraded":true}`, false},
		{"bad name", directory{}, "", 400, "", false},
		{"unknown caller", directory{err: greeting.ErrUnknownCaller}, "Bob", 404, "", false},
		{"no identity", directory{err: greeting.ErrNotAuthenticated}, "Bob", 401, "", false},
		{"user service down", directory{err: greeting.ErrDirectoryUnavailable}, "Bob", 503, "", false},
		{"no caller signed by the gateway", directory{caller: greeting.Caller{ID: 4, Username: "dora"}}, "Bob", 401, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(greeting.NewGreeter(tc.dir, activity{}, func() string { return "configured" }))
			var rsp greeterpb.HelloReply
			ctx := auth.WithCaller(context.Background(), auth.Identity{UserID: 4, Username: "dora"})
			if tc.anonymous {
				ctx = context.Background()
			}
			err := h.Hello(ctx, &greeterpb.HelloRequest{Name: tc.greet}, &rsp)
			var got int32
			if err != nil {
				got = merrors.Parse(err.Error()).Code
			}
			if got != tc.wantCode {
				t.Fatalf("error %v, want code %d", err, tc.wantCode)
			}
			// The JSON clients read, as the gateway writes it: the same as the first version's.
			if body, err := apijson.Encode(&rsp); tc.wantBody != "" && (err != nil || string(body) != tc.wantBody) {
				t.Fatalf("%s (%v)\nwant %s", body, err, tc.wantBody)
			}
		})
	}
}
