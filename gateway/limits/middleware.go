package limits

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
)

// Middleware refuses requests over the limits with 429 before they reach a service, and
// watches the answers of the login route for failed and successful logins. It expects the
// body buffered (the edge does that), as it reads the username from it.
func Middleware(l *Limiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := l.current.Load()
			path := edge.CleanPath(r.URL.Path)
			if !s.paths[path] {
				next.ServeHTTP(w, r)
				return
			}
			username := usernameOf(r)
			if v := l.Admit(path, l.ClientIP(r), username); !v.Allowed {
				Refuse(w, v)
				return
			}
			if path != s.LoginPath || username == "" {
				next.ServeHTTP(w, r)
				return
			}
			sw := edge.NewStatusWriter(w)
			next.ServeHTTP(sw, r)
			switch sw.Status {
			case http.StatusUnauthorized:
				l.LoginFailed(username, r.Header.Get("Idempotency-Key"))
			case http.StatusOK:
				l.LoginSucceeded(username)
			}
		})
	}
}

// maxKeyBytes bounds a username key: valid usernames are far shorter, and longer garbage must
// not cost more memory.
const maxKeyBytes = 64

// usernameOf is the canonical username of a JSON body {"username": ...}, or "".
func usernameOf(r *http.Request) string {
	if r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var in struct {
		Username string `json:"username"`
	}
	if json.Unmarshal(body, &in) != nil {
		return ""
	}
	u := strings.ToLower(strings.TrimSpace(in.Username))
	if len(u) > maxKeyBytes {
		u = u[:maxKeyBytes]
	}
	return u
}
