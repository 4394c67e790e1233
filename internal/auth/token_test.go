package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func newTestKeys(t testing.TB, secret string, now time.Time, accepted ...string) *Keys {
	t.Helper()
	k, err := NewKeys(Config{VerifyConfig: VerifyConfig{Secret: secret, AcceptedSecrets: accepted, Issuer: "gomicro-stack"}, TTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	k.now = func() time.Time { return now }
	return k
}

// mustIssue signs a token for id.
func mustIssue(t testing.TB, k *Keys, id Identity) string {
	t.Helper()
	issued, err := k.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	return issued.Token
}

func TestNewKeysRejectsWeakSettings(t *testing.T) {
	for _, tc := range []struct {
		name, secret, issuer string
		accepted             []string
		ttl                  time.Duration
	}{
		{"short secret", "short", "iss", nil, time.Hour},
		{"short accepted secret", testSecret, "iss", []string{"short"}, time.Hour},
		{"no issuer", testSecret, "", nil, time.Hour},
		{"negative ttl", testSecret, "iss", nil, -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKeys(Config{VerifyConfig: VerifyConfig{Secret: tc.secret, AcceptedSecrets: tc.accepted, Issuer: tc.issuer}, TTL: tc.ttl}); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestIssueThenVerify(t *testing.T) {
	now := time.Now()
	k := newTestKeys(t, testSecret, now)
	issued, err := k.Issue(Identity{UserID: 42, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Verify(issued.Token)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{UserID: 42, Username: "alice", TokenID: issued.ID, TokenIssuedAt: now.Unix(), TokenExpires: issued.ExpiresAt.Unix()}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	var claims Claims
	parsed, _, err := jwt.NewParser().ParseUnverified(issued.Token, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != "gomicro-stack" || claims.Subject != "42" || claims.Name != "alice" || len(claims.ID) != 22 {
		t.Fatalf("claims %+v", claims)
	}
	if parsed.Header["kid"] != KeyIDOf(testSecret) || strings.Contains(parsed.Header["kid"].(string), testSecret[:8]) {
		t.Fatalf("kid %v", parsed.Header["kid"])
	}
	if d := claims.ExpiresAt.Sub(now); d < 15*time.Minute-time.Second || d > 15*time.Minute+time.Second {
		t.Fatalf("exp is %s after issue, want 15m", d)
	}
	if again := mustIssue(t, k, Identity{UserID: 42, Username: "alice"}); again == issued.Token {
		t.Fatal("two tokens with one jti")
	}
}

func TestVerifyRejects(t *testing.T) {
	now := time.Now()
	k := newTestKeys(t, testSecret, now)
	good := mustIssue(t, k, Identity{UserID: 7, Username: "bob"})
	expiredToken := mustIssue(t, newTestKeys(t, testSecret, now.Add(-16*time.Minute)), Identity{UserID: 7, Username: "bob"})
	otherKeyToken := mustIssue(t, newTestKeys(t, strings.Repeat("x", 32), now), Identity{UserID: 7, Username: "bob"})
	otherIssuer, _ := NewKeys(Config{VerifyConfig: VerifyConfig{Secret: testSecret, Issuer: "someone-else"}, TTL: time.Hour})
	otherIssuerToken := mustIssue(t, otherIssuer, Identity{UserID: 7, Username: "bob"})

	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	algNone := noneHeader + "." + parts[1] + "."

	sign := func(method jwt.SigningMethod, kid string, c jwt.RegisteredClaims) string {
		t.Helper()
		token := jwt.NewWithClaims(method, Claims{Name: "bob", RegisteredClaims: c})
		if kid != "" {
			token.Header["kid"] = kid
		}
		s, err := token.SignedString([]byte(testSecret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kid := KeyIDOf(testSecret)
	full := jwt.RegisteredClaims{Issuer: "gomicro-stack", Subject: "7", ID: "jti-of-test", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
	without := func(edit func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		c := full
		edit(&c)
		return c
	}

	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrNoToken},
		{"garbage", "not.a.jwt", ErrMalformedToken},
		{"two parts", "abc.def", ErrMalformedToken},
		{"expired", expiredToken, ErrExpired},
		{"wrong key", otherKeyToken, ErrBadSignature},
		{"alg none", algNone, ErrBadSignature},
		{"alg HS512", sign(jwt.SigningMethodHS512, kid, full), ErrBadSignature},
		{"no kid (tokens before rotation)", sign(jwt.SigningMethodHS256, "", full), ErrBadSignature},
		{"known kid, signed with another secret", forgedKid(t, otherKeyToken, kid), ErrBadSignature},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"1","name":"root","iss":"gomicro-stack","exp":9999999999}`)) + "." + parts[2], ErrBadSignature},
		{"wrong issuer", otherIssuerToken, ErrWrongIssuer},
		{"no exp", sign(jwt.SigningMethodHS256, kid, without(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })), ErrBadClaims},
		{"no jti (cannot be revoked)", sign(jwt.SigningMethodHS256, kid, without(func(c *jwt.RegisteredClaims) { c.ID = "" })), ErrBadClaims},
		{"no iat", sign(jwt.SigningMethodHS256, kid, without(func(c *jwt.RegisteredClaims) { c.IssuedAt = nil })), ErrBadClaims},
		{"issued in the future", sign(jwt.SigningMethodHS256, kid, without(func(c *jwt.RegisteredClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), ErrBadClaims},
		{"bad subject", sign(jwt.SigningMethodHS256, kid, without(func(c *jwt.RegisteredClaims) { c.Subject = "not-a-number" })), ErrBadClaims},
		{"lives ten years (longer than max_ttl)", sign(jwt.SigningMethodHS256, kid, without(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.AddDate(10, 0, 0)) })), ErrBadClaims},
		{"lives a minute past max_ttl", sign(jwt.SigningMethodHS256, kid, without(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(DefaultMaxTTL + time.Minute)) })), ErrBadClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Verify(tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSecretRotation walks a rotation: the next secret is accepted first, then signs while the
// previous one is still accepted, then the previous one goes. No token stops working before
// its secret is dropped.
func TestSecretRotation(t *testing.T) {
	now := time.Now()
	previous, next := strings.Repeat("p", 32), strings.Repeat("n", 32)
	gateway := newTestKeys(t, previous, now)
	user := newTestKeys(t, previous, now)
	old := mustIssue(t, user, Identity{UserID: 1, Username: "a"})

	// 1. Every gateway accepts the next secret.
	if err := gateway.Update(Config{VerifyConfig: VerifyConfig{Secret: previous, AcceptedSecrets: []string{next}, Issuer: "gomicro-stack"}}); err != nil {
		t.Fatal(err)
	}
	// 2. The user service signs with it, and still accepts the previous one.
	if err := user.Update(Config{VerifyConfig: VerifyConfig{Secret: next, AcceptedSecrets: []string{previous}, Issuer: "gomicro-stack"}, TTL: 15 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if user.SigningKeyID() != KeyIDOf(next) {
		t.Fatal("the user service still signs with the previous secret")
	}
	fresh := mustIssue(t, user, Identity{UserID: 1, Username: "a"})
	for name, token := range map[string]string{"old": old, "fresh": fresh} {
		if _, err := gateway.Verify(token); err != nil {
			t.Fatalf("%s token during the rotation: %v", name, err)
		}
	}
	// 3. The previous secret goes: its tokens stop working, the new ones go on.
	if err := gateway.Update(Config{VerifyConfig: VerifyConfig{Secret: next, Issuer: "gomicro-stack"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.Verify(old); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("token of a dropped secret: %v", err)
	}
	if _, err := gateway.Verify(fresh); err != nil {
		t.Fatal(err)
	}
	// A bad update keeps what works.
	if err := gateway.Update(Config{VerifyConfig: VerifyConfig{Secret: "short", Issuer: "gomicro-stack"}}); err == nil {
		t.Fatal("a short secret was taken")
	}
	if _, err := gateway.Verify(fresh); err != nil {
		t.Fatalf("after a refused update: %v", err)
	}
}

// TestUpdateWhileVerifying: updates and verifications race without a data race (go test -race).
func TestUpdateWhileVerifying(t *testing.T) {
	k := newTestKeys(t, testSecret, time.Now())
	token := mustIssue(t, k, Identity{UserID: 1, Username: "a"})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			k.Update(Config{VerifyConfig: VerifyConfig{Secret: testSecret, AcceptedSecrets: []string{strings.Repeat("z", 32)}, Issuer: "gomicro-stack"}, TTL: time.Hour})
		}
	}()
	for i := 0; i < 1000; i++ {
		if _, err := k.Verify(token); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func TestVerifyOnlyKeysCannotIssue(t *testing.T) {
	k, err := NewKeys(Config{VerifyConfig: VerifyConfig{Secret: testSecret, Issuer: "gomicro-stack"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Issue(Identity{UserID: 1, Username: "a"}); err == nil {
		t.Fatal("want an error")
	}
}

// forgedKid puts kid in token's header, keeping its signature.
func forgedKid(t *testing.T, token, kid string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + kid + `","typ":"JWT"}`))
	return header + "." + parts[1] + "." + parts[2]
}

// TestVerifiedTokensAreCheckedAgain: a token verified once is remembered, but its times are
// checked on every use, and nothing but the very same bytes finds it.
func TestVerifiedTokensAreCheckedAgain(t *testing.T) {
	now := time.Now()
	k := newTestKeys(t, testSecret, now)
	token := mustIssue(t, k, Identity{UserID: 7, Username: "grace"})
	if id, err := k.Verify(token); err != nil || id.UserID != 7 {
		t.Fatalf("first use: %+v %v", id, err)
	}
	// Another payload under the remembered token's signature.
	parts := strings.Split(token, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"name":"root","sub":"1","iss":"gomicro-stack","jti":"x","iat":1,"exp":9999999999}`)) + "." + parts[2]
	if _, err := k.Verify(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a forged payload with a remembered signature: %v", err)
	}
	if id, err := k.Verify(token); err != nil || id.Username != "grace" {
		t.Fatalf("second use: %+v %v", id, err)
	}
	k.now = func() time.Time { return now.Add(15*time.Minute + 6*time.Second) }
	if _, err := k.Verify(token); !errors.Is(err, ErrExpired) {
		t.Fatalf("a remembered token past its expiry: %v", err)
	}
	k.now = func() time.Time { return now.Add(-time.Minute) }
	if _, err := k.Verify(token); err == nil {
		t.Fatal("a remembered token before its issue time was accepted")
	}
}
