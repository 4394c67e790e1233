package limits

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/lockout"
)

func testConfig() Config {
	return Config{
		Paths:  []string{"/user/login", "/user/register", "/user/delete"},
		IPRate: 1, IPBurst: 3, UsernameRate: 1, UsernameBurst: 100,
		Config:     lockout.Config{Failures: 3, Increment: 10 * time.Second, Max: 25 * time.Second, Reset: time.Hour},
		MaxTracked: 1000,
	}
}

// clock is a settable time for the limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newLimiter(t *testing.T, c Config) (*Limiter, *clock) {
	t.Helper()
	l, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1_000_000, 0)}
	l.now = clk.now
	return l, clk
}

func TestTokenBucketPerIP(t *testing.T) {
	l, clk := newLimiter(t, testConfig())
	for i := 0; i < 3; i++ {
		if v := l.Admit("/user/login", "10.0.0.1", ""); !v.Allowed {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	v := l.Admit("/user/login", "10.0.0.1", "")
	if v.Allowed || v.RetryAfter <= 0 || v.RetryAfter > time.Second {
		t.Fatalf("over the burst: %+v", v)
	}
	if !l.Admit("/user/login", "10.0.0.2", "").Allowed {
		t.Fatal("another address was refused")
	}
	// An IPv6 client's whole /64 is one client.
	for i := 0; i < 3; i++ {
		l.Admit("/user/login", "2001:db8::"+strconv.Itoa(i+1), "")
	}
	if l.Admit("/user/login", "2001:db8::ffff", "").Allowed {
		t.Fatal("a fresh address in the same /64 got a fresh bucket")
	}
	if !l.Admit("/user/login", "2001:db8:0:1::1", "").Allowed {
		t.Fatal("another /64 was refused")
	}
	if !l.Admit("/greeter/hello", "10.0.0.1", "").Allowed {
		t.Fatal("an unlimited route was refused")
	}
	clk.t = clk.t.Add(time.Second)
	if !l.Admit("/user//login/", "10.0.0.1", "").Allowed {
		t.Fatal("no token after a second at 1/s")
	}
	// Every spelling of the route is the route: the edge routes /user/x/../login to it.
	if l.Admit("/user/x/../login", "10.0.0.1", "").Allowed {
		t.Fatal("a dot segment escaped the limit")
	}
}

func TestLoginFailuresLockTheUsername(t *testing.T) {
	c := testConfig()
	c.IPBurst = 1000
	l, clk := newLimiter(t, c)
	for i := 0; i < 2; i++ {
		l.PasswordFailed("alice")
	}
	if !l.Admit("/user/login", "10.0.0.1", "alice").Allowed {
		t.Fatal("locked before the threshold")
	}
	l.PasswordFailed("alice")
	v := l.Admit("/user/login", "10.0.0.9", "alice")
	if v.Allowed || v.RetryAfter != 10*time.Second {
		t.Fatalf("after 3 failures: %+v, want locked for 10s from any address", v)
	}
	if !l.Admit("/user/login", "10.0.0.1", "bob").Allowed {
		t.Fatal("another username is locked")
	}
	clk.t = clk.t.Add(10 * time.Second)
	if !l.Admit("/user/login", "10.0.0.1", "alice").Allowed {
		t.Fatal("still locked after the wait")
	}
	// Three more: twice the increment; nine more: capped at the maximum.
	for i := 0; i < 3; i++ {
		l.PasswordFailed("alice")
	}
	if v := l.Admit("/user/login", "10.0.0.1", "alice"); v.RetryAfter != 20*time.Second {
		t.Fatalf("after 6 failures: %+v, want 20s", v)
	}
	for i := 0; i < 6; i++ {
		l.PasswordFailed("alice")
	}
	if v := l.Admit("/user/login", "10.0.0.1", "alice"); v.RetryAfter != 25*time.Second {
		t.Fatalf("after 12 failures: %+v, want the 25s maximum", v)
	}
	// A success clears everything.
	clk.t = clk.t.Add(25 * time.Second)
	l.Succeeded("alice")
	l.PasswordFailed("alice")
	if !l.Admit("/user/login", "10.0.0.1", "alice").Allowed {
		t.Fatal("failures survived a successful login")
	}
}

// TestEveryWrongPasswordCounts: the lock counts every wrong password; nothing a client sends
// along (it once deduplicated failures by Idempotency-Key) makes two guesses one.
func TestEveryWrongPasswordCounts(t *testing.T) {
	l, _ := newLimiter(t, testConfig())
	for range 3 {
		l.PasswordFailed("alice")
	}
	if l.Admit("/user/login", "10.0.0.1", "alice").Allowed {
		t.Fatal("three wrong passwords did not lock the account")
	}
}

func TestFailuresAreForgottenAfterTheResetTime(t *testing.T) {
	l, clk := newLimiter(t, testConfig())
	l.PasswordFailed("alice")
	l.PasswordFailed("alice")
	clk.t = clk.t.Add(2 * time.Hour)
	l.PasswordFailed("alice")
	if !l.Admit("/user/login", "10.0.0.1", "alice").Allowed {
		t.Fatal("old failures still counted")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	c := testConfig()
	c.MaxTracked = 50
	l, _ := newLimiter(t, c)
	for i := 0; i < 10_000; i++ {
		l.Admit("/user/login", "10.1."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250), "user"+strconv.Itoa(i))
	}
	if n := len(l.ips.entries); n > 50 {
		t.Fatalf("%d addresses tracked, limit 50", n)
	}
	if n := len(l.usernames.entries); n > 50 {
		t.Fatalf("%d usernames tracked, limit 50", n)
	}
}

func TestClientIP(t *testing.T) {
	c := testConfig()
	c.TrustedProxies = []string{"127.0.0.1", "10.0.0.0/8"}
	l, _ := newLimiter(t, c)
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.7", "192.0.2.1"}, // untrusted peer: its header is ignored
		{"127.0.0.1:5000", "203.0.113.7", "203.0.113.7"},
		{"127.0.0.1:5000", "198.51.100.1, 203.0.113.7, 10.1.2.3", "203.0.113.7"},
		{"127.0.0.1:5000", "spoofed, 203.0.113.7", "203.0.113.7"},
		{"127.0.0.1:5000", "garbage", "127.0.0.1"},
		{"127.0.0.1:5000", "", "127.0.0.1"},
	} {
		r := httptest.NewRequest("POST", "/user/login", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := l.ClientIP(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]func(*Config){
		"zero rate":             func(c *Config) { c.IPRate = 0 },
		"zero burst":            func(c *Config) { c.UsernameBurst = 0 },
		"no failures":           func(c *Config) { c.Failures = 0 },
		"max below increment":   func(c *Config) { c.Max = time.Second },
		"bad proxy":             func(c *Config) { c.TrustedProxies = []string{"not-an-ip"} },
		"nothing tracked":       func(c *Config) { c.MaxTracked = 0 },
		"no reset of failures":  func(c *Config) { c.Reset = 0 },
		"negative lock":         func(c *Config) { c.Increment = -time.Second },
		"bad proxy prefix bits": func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/99"} },
	} {
		c := testConfig()
		broken(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTokenBucketPerUsername(t *testing.T) {
	c := testConfig()
	c.IPBurst, c.UsernameBurst = 1000, 3
	l, clk := newLimiter(t, c)
	for i := 0; i < 3; i++ {
		if !l.Admit("/user/login", "10.0.0."+strconv.Itoa(i), "alice").Allowed {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	// From yet another address: the username's bucket is empty whoever asks.
	if v := l.Admit("/user/login", "10.0.9.9", "alice"); v.Allowed || v.RetryAfter <= 0 {
		t.Fatalf("over the username's burst: %+v", v)
	}
	if !l.Admit("/user/login", "10.0.9.9", "bob").Allowed {
		t.Fatal("another username was refused")
	}
	clk.t = clk.t.Add(time.Second)
	if !l.Admit("/user/login", "10.0.9.9", "alice").Allowed {
		t.Fatal("no token after a second at 1/s")
	}
}

// TestAccountBucketsArePerRoute: requests about an account on one route (registrations of a
// taken name) do not use up its requests on another (the owner's logins).
func TestAccountBucketsArePerRoute(t *testing.T) {
	c := testConfig()
	c.IPBurst, c.UsernameBurst = 1000, 3
	l, _ := newLimiter(t, c)
	for range 10 {
		l.Admit("/user/register", "10.0.0.1", "alice")
	}
	if !l.Admit("/user/login", "10.0.0.2", "alice").Allowed {
		t.Fatal("registrations for a name used up its owner's logins")
	}
}
