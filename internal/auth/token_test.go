package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func newTestKeys(t *testing.T, secret string, now time.Time) *Keys {
	t.Helper()
	k, err := NewKeys(Config{Secret: secret, Issuer: "gomicro-stack", TTL: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	k.now = func() time.Time { return now }
	return k
}

func TestNewKeysRejectsWeakSettings(t *testing.T) {
	for _, tc := range []struct {
		name, secret, issuer string
		ttl                  time.Duration
	}{
		{"short secret", "short", "iss", time.Hour},
		{"no issuer", testSecret, "", time.Hour},
		{"negative ttl", testSecret, "iss", -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKeys(Config{Secret: tc.secret, Issuer: tc.issuer, TTL: tc.ttl}); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestIssueThenVerify(t *testing.T) {
	now := time.Now()
	k := newTestKeys(t, testSecret, now)
	token, err := k.Issue(Identity{UserID: 42, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Identity{UserID: 42, Username: "alice"}) {
		t.Fatalf("got %+v", got)
	}
	var claims Claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != "gomicro-stack" || claims.Subject != "42" || claims.Name != "alice" {
		t.Fatalf("claims %+v", claims)
	}
	if d := claims.ExpiresAt.Sub(now); d < 72*time.Hour-time.Second || d > 72*time.Hour+time.Second {
		t.Fatalf("exp is %s after issue, want 72h", d)
	}
}

func TestVerifyRejects(t *testing.T) {
	now := time.Now()
	k := newTestKeys(t, testSecret, now)
	good, _ := k.Issue(Identity{UserID: 7, Username: "bob"})

	expired := newTestKeys(t, testSecret, now.Add(-73*time.Hour))
	expiredToken, _ := expired.Issue(Identity{UserID: 7, Username: "bob"})

	otherKey := newTestKeys(t, strings.Repeat("x", 32), now)
	otherKeyToken, _ := otherKey.Issue(Identity{UserID: 7, Username: "bob"})

	otherIssuer, _ := NewKeys(Config{Secret: testSecret, Issuer: "someone-else", TTL: time.Hour})
	otherIssuerToken, _ := otherIssuer.Issue(Identity{UserID: 7, Username: "bob"})

	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	algNone := noneHeader + "." + parts[1] + "."

	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, Claims{Name: "bob", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "gomicro-stack", Subject: "7", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}).SignedString([]byte(testSecret))

	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{Name: "bob", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "gomicro-stack", Subject: "7",
	}}).SignedString([]byte(testSecret))

	badSubject, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{Name: "bob", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "gomicro-stack", Subject: "not-a-number", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}).SignedString([]byte(testSecret))

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
		{"alg HS512", hs512, ErrBadSignature},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"1","name":"root","iss":"gomicro-stack","exp":9999999999}`)) + "." + parts[2], ErrBadSignature},
		{"wrong issuer", otherIssuerToken, ErrWrongIssuer},
		{"no exp", noExp, ErrBadClaims},
		{"bad subject", badSubject, ErrBadClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Verify(tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyOnlyKeysCannotIssue(t *testing.T) {
	k, err := NewKeys(Config{Secret: testSecret, Issuer: "gomicro-stack"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Issue(Identity{UserID: 1, Username: "a"}); err == nil {
		t.Fatal("want an error")
	}
}
