package jwtauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
)

func newKeys(t testing.TB, secret string) *auth.Keys {
	t.Helper()
	k, err := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: secret, Issuer: "gomicro-stack"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs a token for id and says which identity the gateway will see in it.
func issue(t testing.TB, k *auth.Keys, id auth.Identity) (string, auth.Identity) {
	t.Helper()
	issued, err := k.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	seen, err := k.Verify(issued.Token)
	if err != nil {
		t.Fatal(err)
	}
	return issued.Token, seen
}

// revokedSet revokes the tokens whose ids it holds.
type revokedSet map[string]bool

func (r revokedSet) Revoked(id auth.Identity) bool { return r[id.TokenID] }

// seen records what the next handler received.
type seen struct {
	called  bool
	headers http.Header
}

// newSigner returns a signer and the verifier of what it signs, for the greeter.
func newSigner(t testing.TB) (*auth.Signer, *auth.Verifier) {
	t.Helper()
	public, private, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.NewSigner(auth.AssertionConfig{PrivateKey: base64.StdEncoding.EncodeToString(private.Seed()), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{PublicKeys: []string{base64.StdEncoding.EncodeToString(public)}, Audiences: []string{"go.micro.api.greeter"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// toGreeter is the audience of every request in these tests.
func toGreeter(*http.Request) string { return "go.micro.api.greeter" }

func serve(t *testing.T, v Verifier, req *http.Request) (*httptest.ResponseRecorder, *seen) {
	t.Helper()
	s := &seen{}
	signer, _ := newSigner(t)
	h := Middleware(v, revokedSet{}, signer, toGreeter, edge.Paths("/user/login", "/user/register"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called, s.headers = true, r.Header.Clone()
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, s
}

func TestOpenPaths(t *testing.T) {
	keys := newKeys(t, strings.Repeat("s", 32))
	for _, tc := range []struct {
		path string
		open bool
	}{
		{"/user/login", true},
		{"/user/register", true},
		{"/user/login/", true},
		{"//user//login", true},
		{"/user/./login", true},
		{"/user/login/../../greeter/hello", false},
		{"/user/login/../register", true},
		{"/user/login/x", false},
		{"/user/loginx", false},
		{"/User/Login", false},
		{"/greeter/hello", false},
		{"/", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			req := httptest.NewRequest("POST", "http://gw/", nil)
			req.URL.Path = tc.path
			rec, s := serve(t, keys, req)
			if s.called != tc.open {
				t.Fatalf("open=%v, want %v (status %d)", s.called, tc.open, rec.Code)
			}
		})
	}
}

func TestRejections(t *testing.T) {
	keys := newKeys(t, strings.Repeat("s", 32))
	other := newKeys(t, strings.Repeat("o", 32))
	good, _ := issue(t, keys, auth.Identity{UserID: 9, Username: "carol"})
	foreign, _ := issue(t, other, auth.Identity{UserID: 9, Username: "carol"})
	for _, tc := range []struct {
		name, authorization string
	}{
		{"no header", ""},
		{"empty bearer", "Bearer "},
		{"garbage", "Bearer garbage"},
		{"wrong key", "Bearer " + foreign},
		{"other scheme", "Basic " + good},
		{"alg none", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI5IiwibmFtZSI6ImNhcm9sIiwiaXNzIjoiZ29taWNyby1zdGFjayIsImV4cCI6OTk5OTk5OTk5OX0."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/greeter/hello", nil)
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			rec, s := serve(t, keys, req)
			if s.called {
				t.Fatal("request reached the backend")
			}
			if rec.Code != 401 {
				t.Fatalf("status %d", rec.Code)
			}
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code != 401 || body.Message != "please login" {
				t.Fatalf("body %s (%v)", rec.Body, err)
			}
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate header")
			}
		})
	}
}

func TestIdentityHeaders(t *testing.T) {
	keys := newKeys(t, strings.Repeat("s", 32))
	good, carol := issue(t, keys, auth.Identity{UserID: 9, Username: "carol"})
	signer, greeter := newSigner(t)
	forged, _ := signer.Sign(auth.Identity{UserID: 1, Username: "admin"}, "go.micro.api.greeter")
	forge := func(req *http.Request) {
		// Go canonicalises wire headers; set raw spellings too, as a hand-built request could.
		req.Header["x-example-id"] = []string{"1"}
		req.Header["X-EXAMPLE-USERNAME"] = []string{"admin"}
		req.Header["X_example_id"] = []string{"1"}
		req.Header.Set("X-Example-Id", "1")
		// Even a genuine assertion, replayed by a client, must not pass.
		req.Header["x-example-assertion"] = []string{forged}
	}
	t.Run("signed from the token, forged ones dropped", func(t *testing.T) {
		for _, authz := range []string{"Bearer " + good, "bearer " + good, good} {
			req := httptest.NewRequest("POST", "/greeter/hello", nil)
			req.Header.Set("Authorization", authz)
			forge(req)
			seen := &seen{}
			h := Middleware(keys, revokedSet{}, signer, toGreeter, edge.Paths("/user/login"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.called, seen.headers = true, r.Header.Clone()
			}))
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !seen.called {
				t.Fatalf("%q: rejected", authz)
			}
			if seen.headers.Get("Authorization") != "" {
				t.Fatal("the token must not travel past the gateway")
			}
			got := seen.headers.Values(auth.HeaderAssertion)
			if len(got) != 1 {
				t.Fatalf("assertion headers %v", got)
			}
			want := carol
			want.TokenIssuedAt = 0 // the assertion carries the token's id and expiry, not its iat
			if id, err := greeter.Verify(got[0]); err != nil || id != want {
				t.Fatalf("the assertion says %+v, %v; want carol (9)", id, err)
			}
			for name := range seen.headers {
				if identityHeaders[normalise(name)] && name != auth.HeaderAssertion {
					t.Fatalf("forged header %q survived", name)
				}
			}
		}
	})
	t.Run("removed on open paths", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/user/login", nil)
		forge(req)
		_, s := serve(t, keys, req)
		for name := range s.headers {
			if identityHeaders[normalise(name)] {
				t.Fatalf("header %q reached an open path", name)
			}
		}
	})
}

func TestToken(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"BEARER abc":   "abc",
		"abc":          "abc",
		"Basic abc":    "",
		"":             "",
	} {
		if got := Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRevokedTokens: a valid token that was revoked is refused like a bad one, with the RFC
// 6750 challenge; the others pass.
func TestRevokedTokens(t *testing.T) {
	keys := newKeys(t, strings.Repeat("s", 32))
	revokedToken, revokedID := issue(t, keys, auth.Identity{UserID: 9, Username: "carol"})
	liveToken, _ := issue(t, keys, auth.Identity{UserID: 9, Username: "carol"})
	signer, _ := newSigner(t)
	var reached int
	h := Middleware(keys, revokedSet{revokedID.TokenID: true}, signer, toGreeter, edge.Paths())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	for _, tc := range []struct {
		token  string
		status int
	}{{revokedToken, 401}, {liveToken, 200}} {
		req := httptest.NewRequest("POST", "/greeter/hello", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Fatalf("status %d, want %d", rec.Code, tc.status)
		}
		if tc.status == 401 && rec.Header().Get("WWW-Authenticate") != `Bearer realm="gomicro-stack", error="invalid_token"` {
			t.Fatalf("challenge %q", rec.Header().Get("WWW-Authenticate"))
		}
	}
	if reached != 1 {
		t.Fatalf("%d requests reached the backend, want 1", reached)
	}
}
