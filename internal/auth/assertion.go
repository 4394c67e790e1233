package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// HeaderAssertion carries the gateway's signed word on who the caller is: an EdDSA JWT that
// only the gateway can sign (it alone holds the private key) and every service verifies. The
// services believe nothing else: a client can dial a service directly and send any metadata
// it likes, but it cannot sign.
const HeaderAssertion = "X-Example-Assertion"

// assertionIssuer is the iss of every assertion.
const assertionIssuer = "gomicro-stack-gateway"

// AssertionConfig is the gateway's side: the private key it signs with.
type AssertionConfig struct {
	// PrivateKey is an Ed25519 seed (32 bytes), base64.
	PrivateKey string        `mapstructure:"private_key" secret:"true" usage:"Ed25519 key (32-byte seed, base64) that signs the caller's identity for the services (required; tools/keygen makes one)"`
	TTL        time.Duration `mapstructure:"ttl" default:"60s" usage:"lifetime of a signed identity"`
}

// VerifierConfig is a service's side: the public keys it accepts (several during a rotation)
// and the audiences: its own name and those of the services allowed to forward to it.
type VerifierConfig struct {
	PublicKeys []string `mapstructure:"public_keys" usage:"Ed25519 public keys (base64) whose signed identities are accepted: the gateway's, and during a rotation the next one too (required)"`
	// Audiences defaults to the service's own name (config.App.Defaults).
	Audiences []string `mapstructure:"audiences" usage:"audiences accepted: this service's name and those of services that forward the identity to it"`
	// MaxTTL bounds the lifetime an assertion may claim (exp − iat); 0 means
	// DefaultAssertionMaxTTL. The gateway signs them for internal_auth.ttl (60 s).
	MaxTTL time.Duration `mapstructure:"max_ttl" default:"2m" usage:"longest signed identity lifetime (exp - iat) accepted; longer ones are refused (the gateway's internal_auth.ttl must be shorter)"`
}

// DefaultAssertionMaxTTL is the bound on assertion lifetimes where none is set.
const DefaultAssertionMaxTTL = 2 * time.Minute

// KeyID names a public key in the kid header: the first 8 bytes of its SHA-256, hex.
func KeyID(public ed25519.PublicKey) string {
	sum := sha256.Sum256(public)
	return hex.EncodeToString(sum[:8])
}

// ParsePrivateKey decodes a base64 Ed25519 seed.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("internal_auth.private_key: want %d bytes in base64 (an Ed25519 seed)", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey decodes a base64 Ed25519 public key.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("internal_auth.public_keys: %q is not %d bytes in base64 (an Ed25519 public key)", text, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// assertionClaims is an assertion's body: the caller, and the access token it came with (its
// jti and exp, so that a service can revoke it).
type assertionClaims struct {
	Name         string `json:"name"`
	TokenID      string `json:"tid,omitempty"`
	TokenExpires int64  `json:"tex,omitempty"`
	jwt.RegisteredClaims
}

// Signer signs identities for services. Signing costs tens of microseconds, so an assertion
// is reused for the same identity and audience until half its lifetime has passed.
type Signer struct {
	key ed25519.PrivateKey
	kid string
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[signerKey]signed
}

type signerKey struct {
	id       Identity
	audience string
}

type signed struct {
	token     string
	refreshAt time.Time
}

// maxCached bounds the signer's and the verifier's caches; past it they start afresh.
const maxCached = 100_000

// NewSigner returns a signer for c.
func NewSigner(c AssertionConfig) (*Signer, error) {
	if c.PrivateKey == "" {
		return nil, errors.New("internal_auth.private_key is required: the services accept no caller without the gateway's signature (make one with go run ./tools/keygen)")
	}
	key, err := ParsePrivateKey(c.PrivateKey)
	if err != nil {
		return nil, err
	}
	if c.TTL < 2*time.Second {
		return nil, fmt.Errorf("internal_auth.ttl %s: want at least 2s", c.TTL)
	}
	return &Signer{key: key, kid: KeyID(key.Public().(ed25519.PublicKey)), ttl: c.TTL, now: time.Now, cache: map[signerKey]signed{}}, nil
}

// Sign returns an assertion of id for audience (the service called).
func (s *Signer) Sign(id Identity, audience string) (string, error) {
	now := s.now()
	k := signerKey{id: id, audience: audience}
	s.mu.Lock()
	if c, ok := s.cache[k]; ok && now.Before(c.refreshAt) {
		s.mu.Unlock()
		return c.token, nil
	}
	s.mu.Unlock()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, assertionClaims{
		Name: id.Username, TokenID: id.TokenID, TokenExpires: id.TokenExpires,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    assertionIssuer,
			Subject:   strconv.FormatUint(id.UserID, 10),
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
		},
	})
	t.Header["kid"] = s.kid
	token, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign the identity of user %d: %w", id.UserID, err)
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[k] = signed{token: token, refreshAt: now.Add(s.ttl / 2)}
	s.mu.Unlock()
	return token, nil
}

// Verifier checks assertions. A verified assertion is remembered until it expires, so that
// the same caller's next calls cost a map lookup instead of a signature check.
type Verifier struct {
	keys      map[string]ed25519.PublicKey // by kid
	audiences []string
	maxTTL    time.Duration
	now       func() time.Time

	verified *verifiedCache[verifiedAssertion]
}

type verifiedAssertion struct {
	id      Identity
	expires time.Time
}

// NewVerifier returns a verifier for c.
func NewVerifier(c VerifierConfig) (*Verifier, error) {
	if len(c.PublicKeys) == 0 {
		return nil, errors.New("internal_auth.public_keys is required: without the gateway's public key no caller can be believed")
	}
	if len(c.Audiences) == 0 {
		return nil, errors.New("internal_auth.audiences is empty")
	}
	keys := map[string]ed25519.PublicKey{}
	for _, text := range c.PublicKeys {
		key, err := ParsePublicKey(text)
		if err != nil {
			return nil, err
		}
		keys[KeyID(key)] = key
	}
	maxTTL := c.MaxTTL
	if maxTTL == 0 {
		maxTTL = DefaultAssertionMaxTTL
	}
	if maxTTL < 0 {
		return nil, fmt.Errorf("internal_auth.max_ttl %s must not be negative", maxTTL)
	}
	return &Verifier{keys: keys, audiences: c.Audiences, maxTTL: maxTTL, now: time.Now, verified: newVerifiedCache[verifiedAssertion](maxCached)}, nil
}

// ErrBadAssertion covers every way an assertion can fail; callers answer 401.
var ErrBadAssertion = errors.New("the caller's identity is not signed by the gateway")

// Verify checks an assertion: EdDSA only, a known kid, issuer, an accepted audience, not
// expired.
func (v *Verifier) Verify(token string) (Identity, error) {
	now := v.now()
	if c, ok := v.verified.get(token); ok && now.Before(c.expires) {
		return c.id, nil
	}
	var claims assertionClaims
	err := parseSigned(token, &claims, v.keys, jwt.SigningMethodEdDSA, assertionIssuer, now, 2*time.Second)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrBadAssertion, err)
	}
	if !slices.ContainsFunc(claims.Audience, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return Identity{}, fmt.Errorf("%w: audience %v is not one of %v", ErrBadAssertion, claims.Audience, v.audiences)
	}
	id, err := strconv.ParseUint(claims.Subject, 10, 64)
	if err != nil || id == 0 || claims.Name == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrBadAssertion)
	}
	if claims.IssuedAt == nil {
		return Identity{}, fmt.Errorf("%w: no issue time", ErrBadAssertion)
	}
	if lifetime := claims.ExpiresAt.Sub(claims.IssuedAt.Time); lifetime > v.maxTTL {
		return Identity{}, fmt.Errorf("%w: lives %s, longer than internal_auth.max_ttl %s", ErrBadAssertion, lifetime, v.maxTTL)
	}
	identity := Identity{UserID: id, Username: claims.Name, TokenID: claims.TokenID, TokenExpires: claims.TokenExpires}
	v.verified.put(token, verifiedAssertion{id: identity, expires: claims.ExpiresAt.Time})
	return identity, nil
}

type identityKey struct{}

// CallerFrom is the identity a verified assertion gave the call, if any.
func CallerFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// WithCaller returns ctx carrying id as the verified caller.
func WithCaller(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}
