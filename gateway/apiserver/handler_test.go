package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/micro/go-micro/v2/client"
	grpcclient "github.com/micro/go-micro/v2/client/grpc"
	"github.com/micro/go-micro/v2/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/gomicro-stack/gomicro-stack/gateway/routes"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

// fakeClient answers calls with answer and remembers what it was asked.
type fakeClient struct {
	client.Client
	answer func(req client.Request, rsp interface{}) error
	calls  []client.Request
	md     []metadata.Metadata
}

func (c *fakeClient) Call(ctx context.Context, req client.Request, rsp interface{}, _ ...client.CallOption) error {
	c.calls = append(c.calls, req)
	md, _ := metadata.FromContext(ctx)
	c.md = append(c.md, md)
	return c.answer(req, rsp)
}

func newTestHandler(t *testing.T, answer func(client.Request, interface{}) error) (http.Handler, *fakeClient) {
	t.Helper()
	table, err := routes.Compiled(names.Namespace, userpb.File_user_user_proto, greeterpb.File_greeter_greeter_proto)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeClient{Client: grpcclient.NewClient(), answer: answer}
	return envelope.Translate(NewHandler(c, table.Lookup)), c
}

func TestHandlerCallsWithTheTypedRequest(t *testing.T) {
	h, c := newTestHandler(t, func(req client.Request, rsp interface{}) error {
		in := req.Body().(*userpb.RegisterRequest)
		proto.Merge(rsp.(*userpb.RegisterReply), &userpb.RegisterReply{Id: 7, Username: in.Username, Replayed: in.IdempotencyKey != ""})
		return nil
	})
	r := httptest.NewRequest("POST", "/user/register", strings.NewReader(`{"username":"alice","password":"password1"}`))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Idempotency-Key", "k-1")
	r.Header.Set(auth.HeaderAssertion, "signed-by-the-gateway")
	r.Header.Set("X-Micro-From-Service", "go.micro.api.greeter")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	if w.Code != 201 || w.Body.String() != `{"code":0,"message":"ok","id":7,"username":"alice"}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w.Header().Get("Idempotent-Replayed") != "true" || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", w.Header())
	}
	if len(c.calls) != 1 || c.calls[0].Service() != "go.micro.api.user" || c.calls[0].Endpoint() != "User.Register" {
		t.Fatalf("calls %v", c.calls)
	}
	in := c.calls[0].Body().(*userpb.RegisterRequest)
	if in.IdempotencyKey != "k-1" || in.Password != "password1" {
		t.Fatalf("request %v", in)
	}
	// The service hears the gateway's assertion and no other header of the client's.
	if md := c.md[0]; len(md) != 1 || md[auth.HeaderAssertion] != "signed-by-the-gateway" {
		t.Fatalf("metadata %v", md)
	}
}

func TestHandlerRefusesBeforeCalling(t *testing.T) {
	h, c := newTestHandler(t, func(client.Request, interface{}) error { return nil })
	for _, tc := range []struct {
		name, method, path, contentType, body string
		status                                int
		reason                                string
	}{
		{"rule broken", "POST", "/user/register", "application/json", `{"username":"ab","password":"password1"}`, 400, "INVALID_ARGUMENT"},
		{"every broken rule is told", "POST", "/user/register", "application/json", `{}`, 400, "INVALID_ARGUMENT"},
		{"header rule broken", "POST", "/user/register", "application/json", `{"username":"abc","password":"password1"}`, 400, "INVALID_ARGUMENT"},
		{"malformed", "POST", "/greeter/hello", "application/json", `{"name":`, 400, "INVALID_ARGUMENT"},
		{"wrong type", "POST", "/greeter/hello", "application/json", `{"name":5}`, 400, "INVALID_ARGUMENT"},
		{"GET", "GET", "/user/login", "", ``, 405, ""},
		{"not JSON", "POST", "/user/login", "text/plain", `{"username":"a","password":"b"}`, 415, ""},
		{"no such route", "POST", "/user/get-user-info", "application/json", `{}`, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			if tc.name == "header rule broken" {
				r.Header.Set("Idempotency-Key", "has spaces")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `"code":`) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if tc.reason != "" && !strings.Contains(w.Body.String(), `"reason":"`+tc.reason+`"`) {
				t.Fatalf("no reason %s: %s", tc.reason, w.Body)
			}
		})
	}
	if len(c.calls) != 0 {
		t.Fatalf("%d calls made for bad requests", len(c.calls))
	}
}

func TestHandlerAnswersTheServiceError(t *testing.T) {
	h, _ := newTestHandler(t, func(client.Request, interface{}) error {
		return rpcerror.New("go.micro.api.user", apipb.Reason_USERNAME_TAKEN, "username is already taken")
	})
	r := httptest.NewRequest("POST", "/user/register", strings.NewReader(`{"username":"alice","password":"password1"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 409 || w.Body.String() != `{"code":409,"message":"username is already taken","reason":"USERNAME_TAKEN"}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
