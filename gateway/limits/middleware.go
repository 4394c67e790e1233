package limits

import (
	"net/http"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/gateway/request"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Middleware refuses requests over the limits with 429 before they reach a service, and hears
// from each limited request how the service answered: a wrong password counts towards the
// account's lock, a success forgets its wrong passwords. It decides on the request as the
// gateway decoded it (request.From: the decoding and the authentication run before it), never
// on a reading of its own.
func Middleware(l *Limiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := l.current.Load()
			path := edge.CleanPath(r.URL.Path)
			if !s.paths[path] {
				next.ServeHTTP(w, r)
				return
			}
			// Without a decoded request (a path the gateway does not route) there is no
			// account to speak of: the client address alone is limited.
			decoded := request.From(r.Context())
			account := ""
			if decoded != nil {
				account = decoded.Subject()
			}
			if v := l.Admit(path, l.ClientIP(r), account); !v.Allowed {
				Refuse(w, v)
				return
			}
			next.ServeHTTP(w, r)
			if account == "" {
				return
			}
			switch reason, answered := decoded.Answer(); {
			case !answered:
			case reason == apipb.Reason_BAD_CREDENTIALS:
				l.PasswordFailed(account)
			case reason == apipb.Reason_REASON_UNSPECIFIED:
				l.Succeeded(account)
			}
		})
	}
}
