package auth

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify is the token check the gateway runs on every request (target: ≤ 20 µs).
func BenchmarkVerify(b *testing.B) {
	k, err := NewKeys(Config{VerifyConfig: VerifyConfig{Secret: strings.Repeat("s", 32), Issuer: "gomicro-stack"}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	token := mustIssue(b, k, Identity{UserID: 42, Username: "bench"})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := k.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}
