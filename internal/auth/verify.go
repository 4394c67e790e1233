package auth

import (
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// parseSigned decodes token into claims and checks it the way both of the stack's tokens are
// checked: signed with the one algorithm alg by the key its kid names among keys (so "none",
// key confusion and unknown keys fail), issued by issuer, carrying iat and exp, valid at now
// within leeway. The error is jwt's, for the caller to map to its own.
func parseSigned[K any](token string, claims jwt.Claims, keys map[string]K, alg jwt.SigningMethod, issuer string, now time.Time, leeway time.Duration) error {
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{alg.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(leeway),
	)
	return err
}

// verifiedCache remembers what tokens that verified said (the whole token is the key: the
// same bytes under the same keys verify the same way), so that a caller's next requests cost a
// map lookup instead of a signature check and a JSON decode. Only tokens that verified are
// put, at most limit (then it starts afresh): a flood of bad tokens fills nothing, a flood of
// good ones a few MiB.
type verifiedCache[V any] struct {
	limit int

	mu      sync.RWMutex
	byToken map[string]V
}

func newVerifiedCache[V any](limit int) *verifiedCache[V] {
	return &verifiedCache[V]{limit: limit, byToken: map[string]V{}}
}

func (c *verifiedCache[V]) get(token string) (V, bool) {
	c.mu.RLock()
	v, ok := c.byToken[token]
	c.mu.RUnlock()
	return v, ok
}

func (c *verifiedCache[V]) put(token string, v V) {
	c.mu.Lock()
	if len(c.byToken) >= c.limit {
		clear(c.byToken)
	}
	c.byToken[token] = v
	c.mu.Unlock()
}

// forget empties the cache (benchmarks measure the uncached check with it).
func (c *verifiedCache[V]) forget() {
	c.mu.Lock()
	clear(c.byToken)
	c.mu.Unlock()
}
