package auth

import (
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/config"
)

// Config holds the token settings. Issuer and verifier must agree on Secret and Issuer.
type Config struct {
	Secret string        `mapstructure:"secret"`
	Issuer string        `mapstructure:"issuer"`
	TTL    time.Duration `mapstructure:"ttl"`
}

// Settings are the token settings a binary reads; issuing adds the token lifetime.
func Settings(issuing bool) []config.Setting {
	s := []config.Setting{
		{Key: "jwt.secret", Default: "", Usage: "HS256 signing secret, at least 32 bytes (required)", Secret: true},
		{Key: "jwt.issuer", Default: "gomicro-stack", Usage: "token issuer (iss), checked on every request"},
	}
	if issuing {
		s = append(s, config.Setting{Key: "jwt.ttl", Default: 72 * time.Hour, Usage: "token lifetime (exp - iat)"})
	}
	return s
}
