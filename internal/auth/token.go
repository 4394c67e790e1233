// Package auth issues and verifies the stack's access tokens: HS256 JWTs
// (github.com/golang-jwt/jwt/v5, the maintained successor of dgrijalva/jwt-go) that name
// their key (kid) and carry an id (jti), so that keys rotate without logging anybody out and a
// single token can be revoked.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Metadata keys the gateway sets from a verified token and services read the caller from.
// Clients can never set them: the gateway removes any such header before routing.
const (
	HeaderUserID   = "X-Example-Id"
	HeaderUsername = "X-Example-Username"
)

// MinSecretBytes is the shortest signing secret accepted: HS256 wants at least its hash size.
const MinSecretBytes = 32

// Verification failures. They are distinct for logs and tests; clients see one "please login".
var (
	ErrNoToken        = errors.New("no token")
	ErrMalformedToken = errors.New("malformed token")
	ErrBadSignature   = errors.New("signature invalid, key unknown or algorithm not allowed")
	ErrExpired        = errors.New("token expired")
	ErrWrongIssuer    = errors.New("wrong issuer")
	ErrBadClaims      = errors.New("claims missing or invalid")
)

// Identity is who a verified token speaks for, and which token it was.
type Identity struct {
	UserID   uint64
	Username string
	// TokenID is the access token's jti; TokenIssuedAt and TokenExpires its iat and exp in
	// Unix seconds. Zero for identities that come from no token.
	TokenID       string
	TokenIssuedAt int64
	TokenExpires  int64
}

// Claims is the token body: registered claims plus the username.
type Claims struct {
	Name string `json:"name"`
	jwt.RegisteredClaims
}

// Issued is a token just signed.
type Issued struct {
	Token     string
	ID        string
	ExpiresAt time.Time
}

// Keys signs tokens with one secret and verifies them with that one and the accepted others
// (during a rotation), each found by the token's kid. Update swaps them while requests run.
type Keys struct {
	set atomic.Pointer[keySet]
	now func() time.Time
}

type keySet struct {
	signing string // kid of the signing secret
	secrets map[string][]byte
	issuer  string
	ttl     time.Duration
	maxTTL  time.Duration

	// verified remembers the tokens these keys verified. An Update makes a new set, so a
	// rotated-out secret's tokens are checked afresh.
	verified *verifiedCache[verifiedToken]
}

// verifiedToken is what a verified token said, with the times its claims bound it to.
type verifiedToken struct {
	id                  Identity
	notBefore, issuedAt time.Time
	expires             time.Time
}

// maxVerified bounds the tokens a key set remembers: a few MiB at most.
const maxVerified = 10_000

// leeway is the clock skew forgiven on the token's times.
const leeway = 5 * time.Second

// KeyIDOf names a secret in the kid header: the first 8 bytes of its SHA-256 (after a prefix
// that keeps the name from being any other hash of the secret), hex. It tells nothing of the
// secret.
func KeyIDOf(secret string) string {
	sum := sha256.Sum256([]byte("gomicro-stack jwt kid\x00" + secret))
	return hex.EncodeToString(sum[:8])
}

// NewKeys checks the settings and returns keys that verify tokens and, when c.TTL is positive,
// issue tokens valid for c.TTL.
func NewKeys(c Config) (*Keys, error) {
	k := &Keys{now: time.Now}
	if err := k.Update(c); err != nil {
		return nil, err
	}
	return k, nil
}

// Update replaces the secrets (and issuer and lifetime) with c's, or keeps the old ones and
// says why c cannot work.
func (k *Keys) Update(c Config) error {
	if c.Issuer == "" {
		return errors.New("jwt.issuer is empty")
	}
	if c.TTL < 0 {
		return fmt.Errorf("jwt.ttl %s must not be negative", c.TTL)
	}
	maxTTL := c.MaxTTL
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	if maxTTL < 0 || c.TTL > maxTTL {
		return fmt.Errorf("jwt.ttl %s must not be longer than jwt.max_ttl %s: the tokens would be refused", c.TTL, maxTTL)
	}
	set := &keySet{secrets: map[string][]byte{}, issuer: c.Issuer, ttl: c.TTL, maxTTL: maxTTL, verified: newVerifiedCache[verifiedToken](maxVerified)}
	for i, secret := range append([]string{c.Secret}, c.AcceptedSecrets...) {
		if len(secret) < MinSecretBytes {
			name := "jwt.secret"
			if i > 0 {
				name = fmt.Sprintf("jwt.accepted_secrets[%d]", i-1)
			}
			return fmt.Errorf("%s is %d bytes; at least %d are required (set JWT_SECRET)", name, len(secret), MinSecretBytes)
		}
		set.secrets[KeyIDOf(secret)] = []byte(secret)
	}
	set.signing = KeyIDOf(c.Secret)
	k.set.Store(set)
	return nil
}

// SigningKeyID is the kid of the tokens Issue signs now.
func (k *Keys) SigningKeyID() string { return k.set.Load().signing }

// TTL is the lifetime of the tokens Issue signs.
func (k *Keys) TTL() time.Duration { return k.set.Load().ttl }

// Issue signs a token for the identity (its token fields are ignored).
func (k *Keys) Issue(id Identity) (Issued, error) {
	set := k.set.Load()
	if set.ttl <= 0 {
		return Issued{}, errors.New("these keys only verify: jwt.ttl is not set")
	}
	jti, err := NewTokenID()
	if err != nil {
		return Issued{}, err
	}
	now := k.now()
	expires := now.Add(set.ttl)
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{
		Name: id.Username,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    set.issuer,
			Subject:   strconv.FormatUint(id.UserID, 10),
			ID:        jti,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
	})
	t.Header["kid"] = set.signing
	signed, err := t.SignedString(set.secrets[set.signing])
	if err != nil {
		return Issued{}, fmt.Errorf("sign token for user %d: %w", id.UserID, err)
	}
	return Issued{Token: signed, ID: jti, ExpiresAt: expires}, nil
}

// NewTokenID returns a random token id: 16 bytes, base64url.
func NewTokenID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Verify checks the token's signature (HS256 only, so "none" and key-confusion tricks fail;
// the key its kid names, among the current and accepted ones), expiry and issuer, and returns
// whom it speaks for. Tokens without a kid or a jti (from versions before rotation and
// revocation) are refused: they could be neither rotated out nor revoked.
func (k *Keys) Verify(token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrNoToken
	}
	set := k.set.Load()
	now := k.now()
	if known, ok := set.verified.get(token); ok {
		// The checks of jwt's validator, on the times the token carries.
		switch {
		case now.After(known.expires.Add(leeway)):
			return Identity{}, ErrExpired
		case now.Before(known.notBefore.Add(-leeway)), now.Before(known.issuedAt.Add(-leeway)):
			return Identity{}, fmt.Errorf("%w: not valid yet", ErrBadClaims)
		}
		return known.id, nil
	}
	var claims Claims
	err := parseSigned(token, &claims, set.secrets, jwt.SigningMethodHS256, set.issuer, now, leeway)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Identity{}, ErrMalformedToken
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return Identity{}, ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, ErrExpired
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return Identity{}, ErrWrongIssuer
	default:
		return Identity{}, fmt.Errorf("%w: %v", ErrBadClaims, err)
	}
	id, err := strconv.ParseUint(claims.Subject, 10, 64)
	if err != nil || id == 0 || claims.Name == "" || claims.ID == "" || claims.IssuedAt == nil {
		return Identity{}, ErrBadClaims
	}
	if lifetime := claims.ExpiresAt.Sub(claims.IssuedAt.Time); lifetime > set.maxTTL+leeway {
		return Identity{}, fmt.Errorf("%w: lives %s, longer than jwt.max_ttl %s", ErrBadClaims, lifetime, set.maxTTL)
	}
	identity := Identity{UserID: id, Username: claims.Name, TokenID: claims.ID,
		TokenIssuedAt: claims.IssuedAt.Unix(), TokenExpires: claims.ExpiresAt.Unix()}
	entry := verifiedToken{id: identity, issuedAt: claims.IssuedAt.Time, expires: claims.ExpiresAt.Time}
	if claims.NotBefore != nil {
		entry.notBefore = claims.NotBefore.Time
	}
	set.verified.put(token, entry)
	return identity, nil
}
