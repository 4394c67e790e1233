package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/client"
	grpcclient "github.com/micro/go-micro/v2/client/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"

	"github.com/gomicro-stack/gomicro-stack/gateway/apiserver"
	"github.com/gomicro-stack/gomicro-stack/gateway/jwtauth"
	"github.com/gomicro-stack/gomicro-stack/gateway/limits"
	"github.com/gomicro-stack/gomicro-stack/gateway/request"
	"github.com/gomicro-stack/gomicro-stack/gateway/routes"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	"github.com/gomicro-stack/gomicro-stack/internal/lockout"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// accounts stands in for the user service behind the gateway: it reads the request as the
// service does (the message it is sent), and answers BAD_CREDENTIALS to every password but
// "right", as the real one would.
type accounts struct {
	client.Client
	calls atomic.Int64
}

func (a *accounts) Call(_ context.Context, req client.Request, _ interface{}, _ ...client.CallOption) error {
	a.calls.Add(1)
	var password string
	switch in := req.Body().(type) {
	case *userpb.LoginRequest:
		password = in.GetPassword()
	case *userpb.DeleteRequest:
		password = in.GetPassword()
	case *userpb.RefreshRequest:
		return rpcerror.New(req.Service(), apipb.Reason_BAD_REFRESH_TOKEN, account.ErrBadRefresh.Error())
	default:
		return nil
	}
	if password != "right" {
		return rpcerror.New(req.Service(), apipb.Reason_BAD_CREDENTIALS, account.ErrBadCredentials.Error())
	}
	return nil
}

// gatewayUnderTest is the gateway's routes as main wires them (routesOf), over a stand-in user
// service, with a lock after 3 wrong passwords; token signs an access token for a username.
type gatewayUnderTest struct {
	handler  http.Handler
	service  *accounts
	token    func(username string) string
	nextAddr atomic.Int64
}

func newGatewayUnderTest(t *testing.T) *gatewayUnderTest {
	t.Helper()
	table, err := routes.Compiled(names.Namespace, compiledAPI...)
	if err != nil {
		t.Fatal(err)
	}
	service := &accounts{Client: grpcclient.NewClient()}
	api := apiserver.NewHandler(service, table.Lookup)
	limiter, err := limits.New(limits.Config{
		Paths:  []string{"/user/login", "/user/register", "/user/refresh", "/user/delete"},
		IPRate: 1000, IPBurst: 1000, UsernameRate: 1000, UsernameBurst: 1000,
		Config: lockout.Config{Failures: 3, Increment: time.Minute, Max: time.Hour, Reset: time.Hour}, MaxTracked: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: strings.Repeat("s", 32), Issuer: "gomicro-stack"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, private, _ := ed25519.GenerateKey(nil)
	signer, err := auth.NewSigner(auth.AssertionConfig{PrivateKey: base64.StdEncoding.EncodeToString(private.Seed()), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatewayUnderTest{service: service}
	g.handler = envelope.Translate(routesOf(api, func(h http.Handler) http.Handler { return h },
		jwtauth.Middleware(keys, nothingRevoked{}, signer, api.Audience, open(table.Lookup, only(nil))), limits.Middleware(limiter)))
	g.token = func(username string) string {
		issued, err := keys.Issue(auth.Identity{UserID: 7, Username: username})
		if err != nil {
			t.Fatal(err)
		}
		return issued.Token
	}
	return g
}

type nothingRevoked struct{}

func (nothingRevoked) Revoked(auth.Identity) bool { return false }

// post sends body to path from a fresh client address each time (the limits per address are
// not what these tests are about), with "Name: value" headers.
func (g *gatewayUnderTest) post(path, body string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.RemoteAddr = fmt.Sprintf("192.0.2.%d:1234", 1+g.nextAddr.Add(1)%250)
	r.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		r.Header.Set(name, value)
	}
	w := httptest.NewRecorder()
	g.handler.ServeHTTP(w, r)
	return w
}

// TestOneReadingDecidesTheLock: the attacks that once split the limiter's reading from the
// service's each fail now. Every spelling of a key the message lacks is refused before any
// layer counts it; every wrong password counts, whatever rides along; the lock and the
// service read the same username.
func TestOneReadingDecidesTheLock(t *testing.T) {
	t.Run("another spelling of username is refused", func(t *testing.T) {
		g := newGatewayUnderTest(t)
		for _, body := range []string{
			`{"username":"victim","password":"guess","Username":"decoy"}`,
			`{"username":"victim","password":"guess","USERNAME":"decoy"}`,
			`{"username":"victim","password":"guess","userName":"decoy"}`,
			`{"username":"victim","username":"decoy","password":"guess"}`,
			`{"username":"victim","password":"guess","extra":1}`,
		} {
			w := g.post("/user/login", body)
			if w.Code != 400 || !strings.Contains(w.Body.String(), `"reason":"INVALID_ARGUMENT"`) {
				t.Errorf("%s: %d %s, want 400 INVALID_ARGUMENT", body, w.Code, w.Body)
			}
		}
		if n := g.service.calls.Load(); n != 0 {
			t.Fatalf("%d refused bodies reached the service", n)
		}
	})
	t.Run("every letter case of the username locks the one account", func(t *testing.T) {
		g := newGatewayUnderTest(t)
		for _, name := range []string{"victim", "Victim", "VICTIM"} {
			if w := g.post("/user/login", `{"username":"`+name+`","password":"guess"}`); w.Code != 401 {
				t.Fatalf("guess as %s: %d %s", name, w.Code, w.Body)
			}
		}
		if w := g.post("/user/login", `{"username":"victim","password":"right"}`); w.Code != 429 {
			t.Fatalf("right password after 3 wrong ones: %d %s, want 429", w.Code, w.Body)
		}
	})
	t.Run("one Idempotency-Key on every guess", func(t *testing.T) {
		g := newGatewayUnderTest(t)
		for range 3 {
			g.post("/user/login", `{"username":"victim","password":"guess"}`, "Idempotency-Key: k1")
		}
		if w := g.post("/user/login", `{"username":"victim","password":"right"}`, "Idempotency-Key: k1"); w.Code != 429 {
			t.Fatalf("right password after 3 wrong ones sharing a key: %d %s, want 429", w.Code, w.Body)
		}
	})
	t.Run("wrong passwords of /user/delete count and are limited", func(t *testing.T) {
		g := newGatewayUnderTest(t)
		token := "Authorization: Bearer " + g.token("Victim")
		for i := range 3 {
			if w := g.post("/user/delete", `{"password":"guess"}`, token); w.Code != 401 {
				t.Fatalf("wrong password %d: %d %s", i, w.Code, w.Body)
			}
		}
		if w := g.post("/user/delete", `{"password":"right"}`, token); w.Code != 429 {
			t.Fatalf("delete after 3 wrong passwords: %d %s, want 429", w.Code, w.Body)
		}
		if w := g.post("/user/login", `{"username":"victim","password":"right"}`); w.Code != 429 {
			t.Fatalf("login after 3 wrong passwords on delete: %d %s, want 429 (the same lock)", w.Code, w.Body)
		}
	})
	t.Run("a refresh names no account", func(t *testing.T) {
		g := newGatewayUnderTest(t)
		if w := g.post("/user/refresh", `{"refresh_token":"junk","username":"victim"}`); w.Code != 400 {
			t.Fatalf("refresh with a username: %d %s, want 400", w.Code, w.Body)
		}
		for range 20 {
			g.post("/user/refresh", `{"refresh_token":"junk"}`)
		}
		if w := g.post("/user/login", `{"username":"victim","password":"right"}`); w.Code != 200 {
			t.Fatalf("login after failed refreshes: %d %s, want 200", w.Code, w.Body)
		}
	})
}

// FuzzOneReading: the same bytes, read by the gateway (whose reading the limits and the lock
// key on) and by the user service (the message as it arrives over gRPC, and the bytes as its
// gRPC server reads a JSON request), name the same account, or are refused. The seeds are the
// spellings that once split the two; `go test` runs them, `go test -fuzz` explores further.
func FuzzOneReading(f *testing.F) {
	for _, seed := range []string{
		`{"username":"victim","password":"guess-1"}`,
		`{"username":"victim","password":"guess-1","Username":"random"}`,
		`{"Username":"random","username":"victim","password":"guess-1"}`,
		`{"username":"victim","USERNAME":"random","password":"p"}`,
		`{"username":"victim","username":"random","password":"p"}`,
		`{"user\u006eame":"victim","username":"random","password":"p"}`,
		`{"username":"VICTIM","password":"p"}`,
		`{"username":" victim","password":"p"}`,
		`{"username":"victim\u0000","password":"p"}`,
		`{"username":null,"password":"p"}`,
		`{"username":["victim"],"password":"p"}`,
		`{"password":"p"}`,
		`{"refresh_token":"junk","username":"victim"}`,
		`{"username":"victim","password":"p"}{"username":"random"}`,
		`  {"username":"victim","password":"p"}  `,
		`{"username":"vıctim","password":"p"}`,
		`{"username":"victim","password":"p","idempotency_key":"k"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, prototype := range []proto.Message{&userpb.LoginRequest{}, &userpb.RegisterRequest{}} {
			gatewaySees, ok := gatewayReading(body, prototype)
			if !ok {
				continue
			}
			// Over gRPC the service gets the gateway's message in protobuf, read by its
			// server's codec, then the handler reads the username the account checks.
			wire, err := encoding.GetCodec("proto").Marshal(gatewaySees.Message)
			if err != nil {
				t.Fatal(err)
			}
			overGRPC := prototype.ProtoReflect().New().Interface()
			if err := encoding.GetCodec("proto").Unmarshal(wire, overGRPC); err != nil {
				t.Fatalf("the service cannot read what the gateway sends: %v", err)
			}
			if got, want := account.Canonical(username(overGRPC)), gatewaySees.Subject(); got != want {
				t.Fatalf("%s: the lock keys on %q, the service checks %q", body, want, got)
			}
			// The same bytes sent as a JSON request straight to the service's gRPC server.
			direct := prototype.ProtoReflect().New().Interface()
			if err := (microsvc.StrictJSON{}).Unmarshal([]byte(body), direct); err == nil {
				if got, want := account.Canonical(username(direct)), gatewaySees.Subject(); got != want {
					t.Fatalf("%s: the gateway reads %q, the service's JSON codec %q", body, want, got)
				}
			}
		}
	})
}

// gatewayReading is what the gateway's decoding makes of body for the route of prototype's
// RPC, and false when it refuses it.
func gatewayReading(body string, prototype proto.Message) (*request.Request, bool) {
	table, err := routes.Compiled(names.Namespace, compiledAPI...)
	if err != nil {
		panic(err)
	}
	api := apiserver.NewHandler(nil, table.Lookup)
	var path string
	for _, r := range table.All() {
		if r.RPC.Input().FullName() == prototype.ProtoReflect().Descriptor().FullName() {
			path = r.Path
		}
	}
	var seen *request.Request
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	api.Decoding(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = request.From(r.Context()) })).
		ServeHTTP(httptest.NewRecorder(), r)
	return seen, seen != nil
}

func username(m proto.Message) string {
	switch m := m.(type) {
	case *userpb.LoginRequest:
		return m.GetUsername()
	case *userpb.RegisterRequest:
		return m.GetUsername()
	}
	panic(fmt.Sprintf("no username in %T", m))
}
