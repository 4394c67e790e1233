package jwtauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
)

// BenchmarkAuthPlugin is the gateway's auth layer on an authenticated request: strip identity
// headers, verify the token, sign the identity (from the signer's cache after the first), drop
// the token.
func BenchmarkAuthPlugin(b *testing.B) {
	keys := newKeys(b, strings.Repeat("s", 32))
	token, _ := keys.Issue(auth.Identity{UserID: 42, Username: "bench"})
	signer, _ := newSigner(b)
	h := Middleware(keys, signer, toGreeter, []string{"/user/login"})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/greeter/hello", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		h.ServeHTTP(rec, req)
	}
}
