package auth

import (
	"time"
)

// VerifyConfig holds what verifies tokens. Issuer and verifier must agree on the secrets and
// Issuer. The secrets are refreshable: a rotation needs no restart.
type VerifyConfig struct {
	// Secret signs new tokens (and verifies them).
	Secret string `mapstructure:"secret" secret:"true" refresh:"true" usage:"HS256 secret that signs access tokens, at least 32 bytes (required; refreshable)"`
	// AcceptedSecrets verify tokens too: the next secret before it signs, the previous one
	// until its tokens have expired.
	AcceptedSecrets []string `mapstructure:"accepted_secrets" secret:"true" refresh:"true" usage:"more secrets that verify access tokens, for a rotation: the next one, then the previous (refreshable)"`
	Issuer          string   `mapstructure:"issuer" default:"gomicro-stack" usage:"token issuer (iss), checked on every request"`
	// MaxTTL bounds the lifetime a token may claim (exp − iat): a token signed for ten years,
	// with a leaked secret or by a misconfigured issuer, is refused. 0 means DefaultMaxTTL.
	MaxTTL time.Duration `mapstructure:"max_ttl" default:"1h" usage:"longest access token lifetime (exp - iat) accepted; longer tokens are refused"`
}

// DefaultMaxTTL is the bound on access token lifetimes where none is set.
const DefaultMaxTTL = time.Hour

// Config holds the settings of a binary that issues tokens too (the user service).
type Config struct {
	VerifyConfig `mapstructure:",squash"`
	TTL          time.Duration `mapstructure:"ttl" default:"15m" usage:"access token lifetime (exp - iat)"`
	// RefreshTTL is how long a refresh token stays usable.
	RefreshTTL time.Duration `mapstructure:"refresh_ttl" default:"720h" usage:"refresh token lifetime; each use gives a new one"`
}
