package auth

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify is the full token check, signature and claims, as the gateway runs it on a
// token it has not seen yet (target: ≤ 20 µs).
func BenchmarkVerify(b *testing.B) {
	k, token := benchKeys(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k.set.Load().verified.forget()
		if _, err := k.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached is the check of a token already verified: its times only.
func BenchmarkVerifyCached(b *testing.B) {
	k, token := benchKeys(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := k.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKeys(b *testing.B) (*Keys, string) {
	k, err := NewKeys(Config{VerifyConfig: VerifyConfig{Secret: strings.Repeat("s", 32), Issuer: "gomicro-stack"}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return k, mustIssue(b, k, Identity{UserID: 42, Username: "bench"})
}
