// Package jwtauth is the gateway's JWT auth layer. Every path but the open ones needs a valid
// token; the caller's identity then travels to the service as an assertion the gateway signs
// (auth.HeaderAssertion), which no client can make, and which services alone believe.
package jwtauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/gateway/request"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

// Verifier checks a token and says whom it speaks for.
type Verifier interface {
	Verify(token string) (auth.Identity, error)
}

// Revocations says whether a verified token has been revoked (logout, reuse, deletion).
type Revocations interface {
	Revoked(id auth.Identity) bool
}

// Signer signs the caller's identity for the service a request goes to.
type Signer interface {
	Sign(id auth.Identity, audience string) (string, error)
}

// identityHeaders are the headers only the gateway may set, compared in a normalised form so
// that no spelling (case, underscores) slips through. Services believe only the signed
// assertion; the unsigned ones are dropped as well, for services of older versions.
var identityHeaders = map[string]bool{
	normalise(auth.HeaderAssertion): true,
	normalise(auth.HeaderUserID):    true,
	normalise(auth.HeaderUsername):  true,
}

func normalise(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
}

// Middleware removes client-sent identity headers, lets through the paths open says need no
// token (cleaned paths) and requires a valid token that r has not revoked everywhere else; the
// verified identity goes on as an assertion signed for the service audience names for the
// request.
func Middleware(v Verifier, r Revocations, s Signer, audience func(*http.Request) string, open func(path string) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			for name := range req.Header {
				if identityHeaders[normalise(name)] {
					delete(req.Header, name)
				}
			}
			// The token stops here: services believe only the assertion, and go-micro's own
			// server-side auth would reject a token it did not issue.
			token := Token(req.Header.Get("Authorization"))
			req.Header.Del("Authorization")
			if open(edge.CleanPath(req.URL.Path)) {
				next.ServeHTTP(w, req)
				return
			}
			id, err := v.Verify(token)
			if err == nil && r.Revoked(id) {
				err = errRevoked
			}
			if err != nil {
				tracing.Log(req.Context()).Debugf("rejected %s %s: %v", req.Method, req.URL.Path, err)
				challenge := `Bearer realm="gomicro-stack"`
				if token != "" { // RFC 6750 §3.1: a token came and does not work
					challenge += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
				envelope.Write(w, http.StatusUnauthorized, "please login")
				return
			}
			assertion, err := s.Sign(id, audience(req))
			if err != nil {
				tracing.Log(req.Context()).Errorf("sign the identity of %s %s: %v", req.Method, req.URL.Path, err)
				envelope.Write(w, http.StatusInternalServerError, "internal error")
				return
			}
			req.Header.Set(auth.HeaderAssertion, assertion)
			// The layers after this one (the limits) know the caller from the same check.
			if decoded := request.From(req.Context()); decoded != nil {
				decoded.Authenticated(id)
			}
			next.ServeHTTP(w, req)
		})
	}
}

var errRevoked = errors.New("token revoked")

// Token extracts the token from an Authorization header: "Bearer <jwt>" (any case), or a bare
// token as older clients of the original project sent it.
func Token(header string) string {
	header = strings.TrimSpace(header)
	if scheme, rest, ok := strings.Cut(header, " "); ok {
		if strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest)
		}
		return ""
	}
	return header
}
