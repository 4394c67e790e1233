package auth

import (
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/config"
)

// Config holds the token settings. Issuer and verifier must agree on the secrets and Issuer.
type Config struct {
	// Secret signs new tokens (and verifies them).
	Secret string `mapstructure:"secret"`
	// AcceptedSecrets verify tokens too: the next secret before it signs, the previous one
	// until its tokens have expired.
	AcceptedSecrets []string      `mapstructure:"accepted_secrets"`
	Issuer          string        `mapstructure:"issuer"`
	TTL             time.Duration `mapstructure:"ttl"`
	// RefreshTTL is how long a refresh token stays usable (the user service's).
	RefreshTTL time.Duration `mapstructure:"refresh_ttl"`
}

// Settings are the token settings a binary reads; issuing adds the lifetimes. The secrets are
// refreshable: a rotation needs no restart.
func Settings(issuing bool) []config.Setting {
	s := []config.Setting{
		{Key: "jwt.secret", Default: "", Usage: "HS256 secret that signs access tokens, at least 32 bytes (required; refreshable)", Secret: true, Refreshable: true},
		{Key: "jwt.accepted_secrets", Default: []string{}, Usage: "more secrets that verify access tokens, for a rotation: the next one, then the previous (refreshable)", Secret: true, Refreshable: true},
		{Key: "jwt.issuer", Default: "gomicro-stack", Usage: "token issuer (iss), checked on every request"},
	}
	if issuing {
		s = append(s,
			config.Setting{Key: "jwt.ttl", Default: 15 * time.Minute, Usage: "access token lifetime (exp - iat)"},
			config.Setting{Key: "jwt.refresh_ttl", Default: 30 * 24 * time.Hour, Usage: "refresh token lifetime; each use gives a new one"})
	}
	return s
}
