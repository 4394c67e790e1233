package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

func TestCatalogHoldsTheServices(t *testing.T) {
	for _, name := range stack.ServiceNames {
		if n := passingInstances(t, shared, name); n < 1 {
			t.Errorf("Consul has no passing instance of %s", name)
		}
	}
}

func TestRegisterLoginHello(t *testing.T) {
	c := newClient(t, shared.GatewayURL)

	reg := c.register("alice_e2e", "correct horse")
	if reg.Status != 201 || reg.Code() != 0 || reg.Str("message") != "ok" || reg.Str("username") != "alice_e2e" {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	if strings.Contains(reg.Raw, "password") || strings.Contains(reg.Raw, "hash") {
		t.Fatalf("register leaks secrets: %s", reg.Raw)
	}
	id := reg.Body["id"].(float64)

	login := c.login("alice_e2e", "correct horse")
	if login.Status != 200 || login.Code() != 0 || login.Str("message") != "ok" {
		t.Fatalf("login: %d %s", login.Status, login.Raw)
	}
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(login.Str("token"), &claims); err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != "gomicro-stack" || claims["sub"] != strconv.Itoa(int(id)) || claims["name"] != "alice_e2e" {
		t.Fatalf("claims %v", claims)
	}
	exp, _ := claims.GetExpirationTime()
	if d := time.Until(exp.Time); d < 14*time.Minute || d > 16*time.Minute || claims["jti"] == nil {
		t.Fatalf("token lives %s (jti %v), want 15m and an id", d, claims["jti"])
	}
	if login.Str("refresh_token") == "" || login.Str("token_type") != "Bearer" || login.Body["expires_in"].(float64) < 800 {
		t.Fatalf("login answered no session: %s", login.Raw)
	}

	hello := c.hello(login.Str("token"), "Bob")
	if hello.Status != 200 || hello.Code() != 0 {
		t.Fatalf("hello: %d %s", hello.Status, hello.Raw)
	}
	if hello.Body["id"].(float64) != id || hello.Str("username") != "alice_e2e" ||
		hello.Str("greeting") != "Hello Bob" || hello.Str("setting_message") != "Hi, here are greetings from gomicro-stack" {
		t.Fatalf("hello body %s", hello.Raw)
	}

	// A bare token, as the original project's clients sent it, is accepted too.
	bare := c.do("POST", "/greeter/hello", `{"name":"Bob"}`, "Authorization: "+login.Str("token"))
	if bare.Status != 200 {
		t.Fatalf("bare token: %d %s", bare.Status, bare.Raw)
	}
}

func TestUnauthorized(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	token := c.signup("unauth_e2e")
	id := subject(t, token)
	sign := func(method jwt.SigningMethod, key any, exp time.Time) string {
		s, err := jwt.NewWithClaims(method, jwt.MapClaims{
			"iss": "gomicro-stack", "sub": id, "name": "unauth_e2e", "exp": exp.Unix(),
		}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	payload := strings.Split(token, ".")[1]

	for _, tc := range []struct {
		name          string
		authorization string
	}{
		{"no token", ""},
		{"garbage", "Bearer garbage"},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, []byte(shared.JWTSecret), time.Now().Add(-time.Hour))},
		{"wrong key", "Bearer " + sign(jwt.SigningMethodHS256, []byte(strings.Repeat("w", 32)), time.Now().Add(time.Hour))},
		{"alg none", "Bearer " + header + "." + payload + "."},
		{"alg HS512 with the right key", "Bearer " + sign(jwt.SigningMethodHS512, []byte(shared.JWTSecret), time.Now().Add(time.Hour))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.authorization != "" {
				headers = append(headers, "Authorization: "+tc.authorization)
			}
			a := c.do("POST", "/greeter/hello", `{"name":"Bob"}`, headers...)
			expectError(t, a, 401, "please login")
		})
	}

	// micro's API gateway copied a micro-token cookie into Authorization; ours reads the header
	// only, so a cookie (which a browser sends on its own, cross-site too) carries no identity.
	t.Run("a valid token in a micro-token cookie", func(t *testing.T) {
		expectError(t, c.do("POST", "/greeter/hello", `{"name":"Bob"}`, "Cookie: micro-token="+token), 401, "please login")
	})

	t.Run("open path cannot be used to reach a closed one", func(t *testing.T) {
		a := c.do("POST", "/user/login/../../greeter/hello", `{"name":"Bob"}`)
		expectError(t, a, 401, "please login")
		req, _ := http.NewRequest("POST", shared.GatewayURL+"/user/login/..%2F..%2Fgreeter%2Fhello", strings.NewReader(`{"name":"Bob"}`))
		req.Header.Set("Content-Type", "application/json")
		expectError(t, c.send(req), 401, "please login")
	})
}

func TestForgedIdentityHeadersAreIgnored(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	victim := c.signup("victim_e2e")
	attacker := c.signup("attacker_e2e")
	victimID := subject(t, victim)

	for _, forged := range [][]string{
		{"X-Example-Id: " + victimID, "X-Example-Username: victim_e2e"},
		{"x-example-id: " + victimID},
		{"X-EXAMPLE-ID: " + victimID},
	} {
		a := c.hello(attacker, "Bob", forged...)
		if a.Status != 200 || a.Str("username") != "attacker_e2e" {
			t.Fatalf("forged %v: %d %s", forged, a.Status, a.Raw)
		}
	}
	// Without a token, forged headers get nothing at all.
	a := c.do("POST", "/greeter/hello", `{"name":"Bob"}`, "X-Example-Id: "+victimID, "X-Example-Username: victim_e2e")
	expectError(t, a, 401, "please login")
}

func TestBadInput(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	token := c.signup("badinput_e2e")
	auth := "Authorization: Bearer " + token

	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}{
		{"malformed JSON", "POST", "/user/login", `{"username":`, nil, 400},
		{"JSON array", "POST", "/user/register", `[]`, nil, 400},
		{"empty body", "POST", "/user/register", ``, nil, 400},
		{"missing password", "POST", "/user/login", `{"username":"badinput_e2e"}`, nil, 400},
		{"missing fields on register", "POST", "/user/register", `{}`, nil, 400},
		{"username too short", "POST", "/user/register", credentials("ab", "long enough"), nil, 400},
		{"username with a space", "POST", "/user/register", credentials("a b c", "long enough"), nil, 400},
		{"password too short", "POST", "/user/register", credentials("shortpw", "1234567"), nil, 400},
		{"password over 72 bytes", "POST", "/user/register", credentials("longpw", strings.Repeat("p", 73)), nil, 400},
		{"name too long", "POST", "/greeter/hello", `{"name":"` + strings.Repeat("x", 65) + `"}`, []string{auth}, 400},
		{"name missing", "POST", "/greeter/hello", `{}`, []string{auth}, 400},
		{"name of wrong type", "POST", "/greeter/hello", `{"name":5}`, []string{auth}, 400},
		{"wrong method", "GET", "/user/login", ``, nil, 405},
		{"not JSON content type", "POST", "/user/login", credentials("badinput_e2e", "x"), []string{"Content-Type: text/plain"}, 415},
		{"form content type", "POST", "/user/login", `username=a&password=b`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415},
		{"unknown route", "POST", "/nothing/here", `{}`, nil, 404},
		{"internal endpoint", "POST", "/user/getUserInfo", `{}`, []string{auth}, 404},
		{"rpc passthrough", "POST", "/rpc", `{"service":"go.micro.api.user","endpoint":"User.GetUserInfo"}`, []string{auth}, 404},
		{"wrong password", "POST", "/user/login", credentials("badinput_e2e", "wrong password"), nil, 401},
		{"unknown user, same answer", "POST", "/user/login", credentials("nobody_e2e", "wrong password"), nil, 401},
		{"taken username", "POST", "/user/register", credentials("badinput_e2e", "another password"), nil, 409},
		{"taken username in another case", "POST", "/user/register", credentials("BadInput_E2E", "another password"), nil, 409},
		{"login with a password over 72 bytes", "POST", "/user/login", credentials("badinput_e2e", "password-badinput_e2e"+strings.Repeat("x", 60)), nil, 400},
		{"invalid UTF-8 in the body", "POST", "/user/login", "{\"username\":\"\xff\"}", nil, 400},
		{"invalid UTF-8 in a header", "POST", "/greeter/hello", `{"name":"x"}`, []string{auth, "X-Note: \xff"}, 400},
		{"headers too large", "POST", "/user/login", `{}`, []string{"X-Big: " + strings.Repeat("b", 40<<10)}, 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := c.do(tc.method, tc.path, tc.body, tc.headers...)
			expectError(t, a, tc.status, "")
		})
	}

	t.Run("wrong password and unknown user answer alike", func(t *testing.T) {
		wrong := c.login("badinput_e2e", "wrong password")
		unknown := c.login("nobody_e2e", "wrong password")
		// Alike but for the request's own trace id.
		withoutTrace := func(a answer) string { return strings.Replace(a.Raw, a.Str("trace_id"), "", 1) }
		if withoutTrace(wrong) != withoutTrace(unknown) || wrong.Str("trace_id") == "" {
			t.Fatalf("%s vs %s", wrong.Raw, unknown.Raw)
		}
	})

	t.Run("body over 1 MiB", func(t *testing.T) {
		big := `{"username":"` + strings.Repeat("a", 1<<20) + `","password":"x"}`
		expectError(t, c.do("POST", "/user/register", big), 413, "")
		// Chunked, so the gateway learns the size only by reading.
		req, _ := http.NewRequest("POST", shared.GatewayURL+"/user/register", io.NopCloser(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		expectError(t, c.send(req), 413, "")
	})
}

// TestConcurrentRegistration: many clients race for one username through the whole path;
// exactly one gets it.
func TestConcurrentRegistration(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	const racers = 10
	statuses := make([]int, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = c.register("contested_e2e", fmt.Sprintf("password-%d", i)).Status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
		default:
			t.Fatalf("statuses %v", statuses)
		}
	}
	if created != 1 {
		t.Fatalf("%d registrations succeeded (%v), want 1", created, statuses)
	}
}

func TestGatewayHealth(t *testing.T) {
	rsp, err := http.Get(shared.GatewayURL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != 200 || string(body) != `{"status":"UP"}` {
		t.Fatalf("%d %s", rsp.StatusCode, body)
	}
}

// subject is the user id a token speaks for.
func subject(t *testing.T, token string) string {
	t.Helper()
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Subject
}

// passingInstances counts the instances of service whose health checks pass in s's Consul.
func passingInstances(t *testing.T, s *stack.Stack, service string) int {
	t.Helper()
	n, err := countPassing(s, service)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func countPassing(s *stack.Stack, service string) (int, error) {
	return s.PassingInConsul(http.DefaultClient, service)
}
