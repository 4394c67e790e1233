package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// keyPair returns a private key in the form of internal_auth.private_key and the public key
// in that of internal_auth.public_keys.
func keyPair(t testing.TB) (private, public string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(priv.Seed()), base64.StdEncoding.EncodeToString(pub)
}

func newSignerT(t testing.TB, private string) *Signer {
	t.Helper()
	s, err := NewSigner(AssertionConfig{PrivateKey: private, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifierT(t testing.TB, audiences []string, publics ...string) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{PublicKeys: publics, Audiences: audiences})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAssertions(t *testing.T) {
	private, public := keyPair(t)
	otherPrivate, _ := keyPair(t)
	signer := newSignerT(t, private)
	user := newVerifierT(t, []string{"go.micro.api.user", "go.micro.api.greeter"}, public)
	alice := Identity{UserID: 7, Username: "alice"}
	good, err := signer.Sign(alice, "go.micro.api.greeter")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := user.Verify(good); err != nil || id != alice {
		t.Fatalf("good: %+v, %v", id, err)
	}
	if again, _ := signer.Sign(alice, "go.micro.api.greeter"); again != good {
		t.Fatal("the same identity and audience were signed again inside half the lifetime")
	}

	expired := newSignerT(t, private)
	expired.now = func() time.Time { return time.Now().Add(-time.Hour) }
	old, _ := expired.Sign(alice, "go.micro.api.user")
	foreign, _ := newSignerT(t, otherPrivate).Sign(alice, "go.micro.api.user")
	wrongAudience, _ := signer.Sign(alice, "go.micro.api.billing")
	// A token signed with HS256 using the public key as the secret: the classic confusion.
	raw, _ := base64.StdEncoding.DecodeString(public)
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, assertionClaims{Name: "alice", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: assertionIssuer, Subject: "7", Audience: jwt.ClaimStrings{"go.micro.api.user"}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}})
	confused.Header["kid"] = KeyID(raw)
	confusedToken, _ := confused.SignedString(raw)
	longLived := newSignerT(t, private)
	longLived.ttl = 10 * 365 * 24 * time.Hour
	tenYears, _ := longLived.Sign(alice, "go.micro.api.user")
	overMax := newSignerT(t, private)
	overMax.ttl = DefaultAssertionMaxTTL + time.Second
	justOver, _ := overMax.Sign(alice, "go.micro.api.user")
	edKey, _ := ParsePrivateKey(private)
	noIAT := jwt.NewWithClaims(jwt.SigningMethodEdDSA, assertionClaims{Name: "alice", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: assertionIssuer, Subject: "7", Audience: jwt.ClaimStrings{"go.micro.api.user"}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}})
	noIAT.Header["kid"] = KeyID(edKey.Public().(ed25519.PublicKey))
	noIATToken, _ := noIAT.SignedString(edKey)
	for name, token := range map[string]string{
		"expired": old, "another key": foreign, "another audience": wrongAudience,
		"HS256 with the public key": confusedToken, "garbage": "a.b.c", "empty": "",
		"lives ten years": tenYears, "lives a second past max_ttl": justOver, "no issue time": noIATToken,
	} {
		if _, err := user.Verify(token); !errors.Is(err, ErrBadAssertion) {
			t.Errorf("%s: %v, want ErrBadAssertion", name, err)
		}
	}
}

// TestRotation: during a rotation services accept both keys, so assertions of the old and the
// new gateway key both pass; afterwards only the new.
func TestRotation(t *testing.T) {
	oldPrivate, oldPublic := keyPair(t)
	newPrivate, newPublic := keyPair(t)
	alice := Identity{UserID: 7, Username: "alice"}
	byOld, _ := newSignerT(t, oldPrivate).Sign(alice, "go.micro.api.user")
	byNew, _ := newSignerT(t, newPrivate).Sign(alice, "go.micro.api.user")
	during := newVerifierT(t, []string{"go.micro.api.user"}, oldPublic, newPublic)
	for _, token := range []string{byOld, byNew} {
		if _, err := during.Verify(token); err != nil {
			t.Fatalf("during the rotation: %v", err)
		}
	}
	after := newVerifierT(t, []string{"go.micro.api.user"}, newPublic)
	if _, err := after.Verify(byOld); err == nil {
		t.Fatal("the retired key still passes")
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := NewSigner(AssertionConfig{TTL: time.Minute}); err == nil {
		t.Error("signer without a key")
	}
	if _, err := NewSigner(AssertionConfig{PrivateKey: "c2hvcnQ=", TTL: time.Minute}); err == nil {
		t.Error("signer with a short key")
	}
	if _, err := NewVerifier(VerifierConfig{Audiences: []string{"x"}}); err == nil {
		t.Error("verifier without keys")
	}
	if _, err := NewVerifier(VerifierConfig{PublicKeys: []string{"bm9wZQ=="}, Audiences: []string{"x"}}); err == nil {
		t.Error("verifier with a bad key")
	}
}

// BenchmarkAssertionSign is one signature (the signer's cache bypassed): what the gateway pays
// once per caller and service every half lifetime.
func BenchmarkAssertionSign(b *testing.B) {
	private, _ := keyPair(b)
	s := newSignerT(b, private)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		clear(s.cache)
		if _, err := s.Sign(Identity{UserID: 7, Username: "alice"}, "go.micro.api.greeter"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssertionVerify is one verification (the verifier's cache bypassed): what a service
// pays once per assertion; BenchmarkAssertionVerifyCached is every later call.
func BenchmarkAssertionVerify(b *testing.B) {
	benchmarkVerify(b, false)
}

func BenchmarkAssertionVerifyCached(b *testing.B) {
	benchmarkVerify(b, true)
}

func benchmarkVerify(b *testing.B, cached bool) {
	private, public := keyPair(b)
	token, _ := newSignerT(b, private).Sign(Identity{UserID: 7, Username: "alice"}, "go.micro.api.greeter")
	v := newVerifierT(b, []string{"go.micro.api.greeter"}, public)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !cached {
			v.verified.forget()
		}
		if _, err := v.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}
