package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

func (c *apiClient) refresh(refreshToken string) answer {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"refresh_token": refreshToken})
	return c.do("POST", "/user/refresh", string(body))
}

func (c *apiClient) logout(access, refreshToken string) answer {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"refresh_token": refreshToken})
	return c.do("POST", "/user/logout", string(body), "Authorization: Bearer "+access)
}

// session registers and logs in username, returning the login's answer.
func (c *apiClient) session(username string) answer {
	c.t.Helper()
	if a := c.register(username, "password-"+username); a.Status != 201 {
		c.t.Fatalf("register %s: %d %s", username, a.Status, a.Raw)
	}
	a := c.login(username, "password-"+username)
	if a.Status != 200 || a.Str("refresh_token") == "" {
		c.t.Fatalf("login %s: %d %s", username, a.Status, a.Raw)
	}
	return a
}

// refusedWithin polls hello with token at every gateway until each answers 401, and returns
// how long the slowest took; it fails the test past limit.
func refusedWithin(t *testing.T, limit time.Duration, token string, gateways ...*apiClient) time.Duration {
	t.Helper()
	began := time.Now()
	for _, g := range gateways {
		for {
			a := g.hello(token, "Bob")
			if a.Status == 401 {
				break
			}
			// Until the gateway refuses it, the token reaches the greeter, which finds a
			// deleted account gone.
			if a.Status != 200 && (a.Status != 404 || a.Str("message") != "user not found") {
				t.Fatalf("hello answered %d %s", a.Status, a.Raw)
			}
			if time.Since(began) > limit {
				t.Fatalf("the token still works at %s %s after it was revoked", g.base, time.Since(began).Round(time.Millisecond))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(began)
}

// startGateway starts one more gateway of s and returns a client of it.
func startGateway(t *testing.T, s *stack.Stack) *apiClient {
	t.Helper()
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{"REGISTRY_ADDRESS=" + s.ConsulAddress, "JWT_SECRET=" + s.JWTSecret, "CONFIG_FAIL_FAST=true"}, s.Env...)
	p, err := s.StartService("gateway", env, "--http_address", "127.0.0.1:"+strconv.Itoa(port), "--metrics_address", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	c := newClient(t, "http://127.0.0.1:"+strconv.Itoa(port))
	if err := p.WaitReady(20*time.Second, func() error { return stack.AnswersOK(c.http, c.base+"/health") }); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRefreshRotatesAndReuseRevokes: a refresh hands out a new pair and spends the refresh
// token; the spent token coming back revokes the whole family, the access token the last
// refresh gave included.
func TestRefreshRotatesAndReuseRevokes(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	first := c.session("refresh_e2e")
	second := c.refresh(first.Str("refresh_token"))
	if second.Status != 200 || second.Str("token") == "" || second.Str("refresh_token") == first.Str("refresh_token") {
		t.Fatalf("refresh: %d %s", second.Status, second.Raw)
	}
	if second.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("tokens answered with Cache-Control %q", second.Header.Get("Cache-Control"))
	}
	if a := c.hello(second.Str("token"), "Bob"); a.Status != 200 || a.Str("username") != "refresh_e2e" {
		t.Fatalf("hello with the refreshed token: %d %s", a.Status, a.Raw)
	}
	reuse := c.refresh(first.Str("refresh_token"))
	expectError(t, reuse, 401, "refresh token was already used; every session of this login is revoked, please login")
	took := refusedWithin(t, time.Second, second.Str("token"), c)
	t.Logf("after the reuse, the family's access token was refused in %s", took.Round(time.Millisecond))
	expectError(t, c.refresh(second.Str("refresh_token")), 401, "refresh token is not valid; please login")

	for _, tc := range []struct{ name, body string }{
		{"no refresh token", `{}`},
		{"not JSON", `refresh`},
		{"a number", `{"refresh_token":42}`},
	} {
		if a := c.do("POST", "/user/refresh", tc.body); a.Status != 400 || a.Code() != 400 {
			t.Errorf("%s: %d %s", tc.name, a.Status, a.Raw)
		}
	}
	expectError(t, c.refresh("made-up"), 401, "refresh token is not valid; please login")
}

// TestLogout: logout revokes the access token at the gateway within a second, and the refresh
// token with it; another session of the same user goes on.
func TestLogout(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	leaving := c.session("logout_e2e")
	staying := c.login("logout_e2e", "password-logout_e2e")
	expectError(t, c.do("POST", "/user/logout", `{}`), 401, "please login")
	if a := c.logout(leaving.Str("token"), leaving.Str("refresh_token")); a.Status != 200 || a.Code() != 0 {
		t.Fatalf("logout: %d %s", a.Status, a.Raw)
	}
	took := refusedWithin(t, time.Second, leaving.Str("token"), c)
	t.Logf("logged-out token refused in %s", took.Round(time.Millisecond))
	expectError(t, c.refresh(leaving.Str("refresh_token")), 401, "")
	if a := c.hello(staying.Str("token"), "Bob"); a.Status != 200 {
		t.Fatalf("the other session: %d %s", a.Status, a.Raw)
	}
	if a := c.refresh(staying.Str("refresh_token")); a.Status != 200 {
		t.Fatalf("the other session's refresh: %d %s", a.Status, a.Raw)
	}
}

// TestDeletedUserRefusedEverywhere: a deleted account's token stops working at every gateway
// within a second; the name can be registered again, as a new account, whose token works and
// whose predecessor's token still does not.
func TestDeletedUserRefusedEverywhere(t *testing.T) {
	first := newClient(t, shared.GatewayURL)
	second := startGateway(t, shared)
	login := first.session("deleted_e2e")
	token := login.Str("token")
	for _, g := range []*apiClient{first, second} {
		if a := g.hello(token, "Bob"); a.Status != 200 {
			t.Fatalf("hello at %s before the deletion: %d %s", g.base, a.Status, a.Raw)
		}
	}
	expectError(t, first.do("POST", "/user/delete", `{"password":"wrong-password"}`, "Authorization: Bearer "+token), 401, "wrong username or password")
	if a := first.do("POST", "/user/delete", `{"password":"password-deleted_e2e"}`, "Authorization: Bearer "+token); a.Status != 200 {
		t.Fatalf("delete: %d %s", a.Status, a.Raw)
	}
	took := refusedWithin(t, time.Second, token, first, second)
	t.Logf("deleted user's token refused at both gateways in %s", took.Round(time.Millisecond))
	expectError(t, first.refresh(login.Str("refresh_token")), 401, "")

	again := first.session("deleted_e2e")
	if subject(t, again.Str("token")) == subject(t, token) {
		t.Fatal("the new account has the deleted one's id")
	}
	for _, g := range []*apiClient{first, second} {
		if a := g.hello(again.Str("token"), "Bob"); a.Status != 200 {
			t.Fatalf("the new account at %s: %d %s", g.base, a.Status, a.Raw)
		}
		if a := g.hello(token, "Bob"); a.Status != 401 {
			t.Fatalf("the deleted account's token at %s: %d %s", g.base, a.Status, a.Raw)
		}
	}
}

// TestTokenSecretRotationUnderLoad rotates the access-token secret through the config server
// while clients keep calling and refreshing: the gateways accept the next secret, the user
// service signs with it, clients' refreshes move them over, the previous secret goes. No
// request fails, and a token of the previous secret is refused at the end.
func TestTokenSecretRotationUnderLoad(t *testing.T) {
	previous, next := randomSecret(), randomSecret()
	repo := t.TempDir()
	files, err := filepath.Glob(filepath.Join(repoRoot, "config-repo", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	placeholder := regexp.MustCompile(`(?m)^jwt:\n  secret: \$\{JWT_SECRET\}\n`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The secrets live in the repository here, so that the config server can change them.
		b = placeholder.ReplaceAll(b, nil)
		if err := os.WriteFile(filepath.Join(repo, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setSecrets := func(app, secret string, accepted ...string) {
		t.Helper()
		path := filepath.Join(repo, app+".yml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(b), "# rotation\n")
		list := "[]"
		if len(accepted) > 0 {
			list = `["` + strings.Join(accepted, `", "`) + `"]`
		}
		tail := fmt.Sprintf("# rotation\njwt:\n  secret: %q\n  accepted_secrets: %s\n", secret, list)
		if err := os.WriteFile(path, []byte(head+tail), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setSecrets("gateway", previous)
	setSecrets("user", previous)

	// JWT_SECRET set empty counts as unset: the repository's secrets apply (the stack signs
	// its readiness probe with JWTSecret).
	s, err := startStackWith(stack.Config{ConfigRepo: repo, DatabaseDSN: filepath.Join(t.TempDir(), "user.db"), JWTSecret: previous,
		Env: []string{"JWT_SECRET=", "CONFIG_REFRESH_INTERVAL=200ms"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	c := newClient(t, s.GatewayURL)
	oldLogin := c.session("rotation_witness")
	kid := func(token string) string {
		parsed, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
		if err != nil {
			return ""
		}
		k, _ := parsed.Header["kid"].(string)
		return k
	}
	if kid(oldLogin.Str("token")) != auth.KeyIDOf(previous) {
		t.Fatalf("tokens signed with kid %q, want the previous secret's", kid(oldLogin.Str("token")))
	}

	const workers = 8
	var stop atomic.Bool
	var requests, failures atomic.Int64
	var onNext atomic.Int64 // workers whose current token has the next secret's kid
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lc := newClient(t, s.GatewayURL)
			name := "rotation_" + strconv.Itoa(w)
			a := lc.session(name)
			access, refresh, moved := a.Str("token"), a.Str("refresh_token"), false
			for i := 0; !stop.Load(); i++ {
				var got answer
				if i%10 == 9 {
					got = lc.refresh(refresh)
					if got.Status == 200 {
						access, refresh = got.Str("token"), got.Str("refresh_token")
						if !moved && kid(access) == auth.KeyIDOf(next) {
							moved = true
							onNext.Add(1)
						}
					}
				} else {
					got = lc.hello(access, "Bob")
				}
				requests.Add(1)
				if got.Status != 200 {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %s", got.Status, got.Raw))
				}
			}
		}()
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	wait := func(what string, ok func() bool) {
		t.Helper()
		if err := stack.Eventually(20*time.Second, 50*time.Millisecond, func() error {
			if ok() {
				return nil
			}
			return fmt.Errorf("not yet: %s", what)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// witness is a token for rotation_witness signed with secret, as the user service would.
	witness := func(secret string) string {
		keys, _ := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: secret, Issuer: "gomicro-stack"}, TTL: time.Minute})
		id, _ := strconv.ParseUint(subject(t, oldLogin.Str("token")), 10, 64)
		issued, _ := keys.Issue(auth.Identity{UserID: id, Username: "rotation_witness"})
		return issued.Token
	}

	// 1. The gateways accept the next secret.
	setSecrets("gateway", previous, next)
	wait("the gateway accepts the next secret", func() bool { return c.hello(witness(next), "Bob").Status == 200 })
	// 2. The user service signs with it, still knowing the previous one.
	setSecrets("user", next, previous)
	wait("new logins get the next secret", func() bool {
		return kid(c.login("rotation_witness", "password-rotation_witness").Str("token")) == auth.KeyIDOf(next)
	})
	// 3. Once every client has refreshed onto the next secret (in production: once the
	// access tokens' lifetime has passed), the previous secret goes.
	wait("every client refreshed onto the next secret", func() bool { return onNext.Load() == workers })
	setSecrets("gateway", next)
	wait("the previous secret is dropped", func() bool { return c.hello(witness(previous), "Bob").Status == 401 })
	before := requests.Load()
	wait("load after the rotation", func() bool { return requests.Load() > before+100 })
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the rotation; first: %v", failures.Load(), requests.Load(), firstFailure.Load())
	}
	if a := c.hello(oldLogin.Str("token"), "Bob"); a.Status != 401 {
		t.Fatalf("a token of the dropped secret: %d %s", a.Status, a.Raw)
	}
	t.Logf("%d requests (hello and refresh) from %d clients during the rotation, 0 failed", requests.Load(), workers)
}
