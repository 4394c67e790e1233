// Package auth issues and verifies the stack's access tokens: HS256 JWTs signed with a shared
// secret (github.com/golang-jwt/jwt/v5, the maintained successor of dgrijalva/jwt-go).
package auth

import (
	"errors"
	"fmt"
	"strconv"
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
	ErrBadSignature   = errors.New("signature invalid or algorithm not allowed")
	ErrExpired        = errors.New("token expired")
	ErrWrongIssuer    = errors.New("wrong issuer")
	ErrBadClaims      = errors.New("claims missing or invalid")
)

// Identity is who a verified token speaks for.
type Identity struct {
	UserID   uint64
	Username string
}

// Claims is the token body: registered claims plus the username.
type Claims struct {
	Name string `json:"name"`
	jwt.RegisteredClaims
}

// Keys holds the signing secret and the settings both sides must agree on.
type Keys struct {
	secret []byte
	issuer string
	ttl    time.Duration
	now    func() time.Time
}

// NewKeys checks the settings and returns keys that verify tokens and, when c.TTL is positive,
// issue tokens valid for c.TTL.
func NewKeys(c Config) (*Keys, error) {
	if len(c.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("jwt.secret is %d bytes; at least %d are required (set JWT_SECRET)", len(c.Secret), MinSecretBytes)
	}
	if c.Issuer == "" {
		return nil, errors.New("jwt.issuer is empty")
	}
	if c.TTL < 0 {
		return nil, fmt.Errorf("jwt.ttl %s must not be negative", c.TTL)
	}
	return &Keys{secret: []byte(c.Secret), issuer: c.Issuer, ttl: c.TTL, now: time.Now}, nil
}

// Issue signs a token for the identity.
func (k *Keys) Issue(id Identity) (string, error) {
	if k.ttl <= 0 {
		return "", errors.New("these keys only verify: jwt.ttl is not set")
	}
	now := k.now()
	claims := Claims{
		Name: id.Username,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    k.issuer,
			Subject:   strconv.FormatUint(id.UserID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(k.ttl)),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(k.secret)
	if err != nil {
		return "", fmt.Errorf("sign token for user %d: %w", id.UserID, err)
	}
	return signed, nil
}

// Verify checks the token's signature (HS256 only, so "none" and key-confusion tricks fail),
// expiry and issuer, and returns whom it speaks for.
func (k *Keys) Verify(token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrNoToken
	}
	var claims Claims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return k.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(k.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(k.now),
		jwt.WithLeeway(5*time.Second),
	)
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
	if err != nil || id == 0 || claims.Name == "" {
		return Identity{}, ErrBadClaims
	}
	return Identity{UserID: id, Username: claims.Name}, nil
}
