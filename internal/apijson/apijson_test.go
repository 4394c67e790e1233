package apijson

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

func noHeaders(string) string { return "" }

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		header    func(string) string
		want      *userpb.RegisterRequest
		malformed bool
	}{
		{"ok", `{"username":"alice","password":"secret123"}`, noHeaders, &userpb.RegisterRequest{Username: "alice", Password: "secret123"}, false},
		{"unknown field", `{"username":"a","extra":{"deep":[1]}}`, noHeaders, nil, true},
		{"another letter case", `{"username":"a","Username":"b"}`, noHeaders, nil, true},
		{"the JSON name is the field", `{"username":"a","idempotencyKey":"k"}`, noHeaders, nil, true},
		{"the field under both its names", `{"Password":"x","password":"y"}`, noHeaders, nil, true},
		{"an escaped duplicate", `{"username":"a","user\u006eame":"b"}`, noHeaders, nil, true},
		{"empty body reads as {}", ``, noHeaders, &userpb.RegisterRequest{}, false},
		{"blank body reads as {}", "  \n", noHeaders, &userpb.RegisterRequest{}, false},
		{"null field", `{"username":null}`, noHeaders, &userpb.RegisterRequest{}, false},
		{"header field from its header", `{"username":"a"}`, func(n string) string {
			if n == "Idempotency-Key" {
				return "k-1"
			}
			return ""
		}, &userpb.RegisterRequest{Username: "a", IdempotencyKey: "k-1"}, false},
		{"header field never from the body", `{"username":"a","idempotency_key":"from-body"}`, noHeaders, nil, true},
		{"truncated", `{"username":`, noHeaders, nil, true},
		{"array", `[1,2]`, noHeaders, nil, true},
		{"string", `"x"`, noHeaders, nil, true},
		{"wrong type", `{"username":5}`, noHeaders, nil, true},
		{"two values", `{} {}`, noHeaders, nil, true},
		{"not JSON", `username=alice`, noHeaders, nil, true},
		{"duplicate field", `{"username":"a","username":"b"}`, noHeaders, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got userpb.RegisterRequest
			err := Decode([]byte(tc.body), &got, tc.header)
			if tc.malformed {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err %v, want malformed", err)
				}
				return
			}
			if err != nil || !proto.Equal(&got, tc.want) {
				t.Fatalf("got %v (%v), want %v", &got, err, tc.want)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply proto.Message
		want  string
	}{
		// Zero values are written, and 64-bit integers are numbers: the JSON of the first version.
		{"register", &userpb.RegisterReply{Id: 1 << 60, Username: "alice", Replayed: true}, `{"code":0,"message":"ok","id":1152921504606846976,"username":"alice"}`},
		{"zero values", &userpb.TokenReply{}, `{"code":0,"message":"ok","token":"","token_type":"","expires_in":0,"refresh_token":""}`},
		{"no fields", &userpb.LogoutReply{}, `{"code":0,"message":"ok"}`},
		{"wrappers are their value or absent", &greeterpb.HelloReply{Username: "d", Logins: wrapperspb.Int64(0)}, `{"code":0,"message":"ok","username":"d","greeting":"","setting_message":"","logins":0}`},
		{"escaping", &userpb.RegisterReply{Username: "<\"\n>"}, `{"code":0,"message":"ok","id":0,"username":"\u003c\"\n\u003e"}`},
		{"lists and nested messages", &userpb.RevocationsResponse{Revocations: []*userpb.Revocation{{TokenId: "t", UserId: 2}}, NowUnixMs: 3},
			`{"code":0,"message":"ok","revocations":[{"token_id":"t","user_id":2,"issued_before":0,"until":0}],"now_unix_ms":3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.reply)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s (%v)\nwant %s", got, err, tc.want)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	if h := Headers(&userpb.RegisterReply{Replayed: true}); h["Idempotent-Replayed"] != "true" || len(h) != 1 {
		t.Fatalf("replayed: %v", h)
	}
	if h := Headers(&userpb.RegisterReply{}); len(h) != 0 {
		t.Fatalf("not replayed: %v", h)
	}
}
