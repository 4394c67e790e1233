package jwtauth

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/gateway/revocation"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
)

// BenchmarkAuthPlugin is the gateway's auth layer on an authenticated request: strip identity
// headers, verify the token, look it up among 10 000 revocations, sign the identity (from the
// signer's cache after the first), drop the token.
func BenchmarkAuthPlugin(b *testing.B) {
	keys := newKeys(b, strings.Repeat("s", 32))
	token, _ := issue(b, keys, auth.Identity{UserID: 42, Username: "bench"})
	signer, _ := newSigner(b)
	h := Middleware(keys, revocationsOf(10_000), signer, toGreeter, edge.Paths("/user/login"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/greeter/hello", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		h.ServeHTTP(rec, req)
	}
}

// revocationsOf is a list with n revocations in force, half tokens, half users.
func revocationsOf(n int) *revocation.List {
	list := revocation.NewList()
	until := time.Now().Add(time.Hour).Unix()
	entries := make([]revocation.Entry, n)
	for i := range entries {
		if i%2 == 0 {
			entries[i] = revocation.Entry{TokenID: "revoked-" + strconv.Itoa(i), Until: until}
		} else {
			entries[i] = revocation.Entry{UserID: uint64(1000 + i), IssuedBefore: until, Until: until}
		}
	}
	list.Add(entries, time.Now().Unix())
	return list
}
