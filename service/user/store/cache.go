package store

import (
	"context"
	"sync"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// Cached keeps the accounts it has loaded by id, so that the profile read behind every hello
// costs a map lookup instead of a query. Accounts never change once created (there is no update
// or delete), so an entry never goes stale; the cache only bounds its size, forgetting the
// oldest entries first. Lookups by username (logins) and misses go to the store.
type Cached struct {
	account.Store
	mu    sync.RWMutex
	byID  map[uint64]account.User
	order []uint64 // insertion order, for eviction
	next  int
	size  int
}

// NewCached caches up to size accounts of s.
func NewCached(s account.Store, size int) *Cached {
	return &Cached{Store: s, byID: map[uint64]account.User{}, size: size}
}

// ByID answers from the cache, or loads and remembers.
func (c *Cached) ByID(ctx context.Context, id uint64) (account.User, error) {
	c.mu.RLock()
	u, ok := c.byID[id]
	c.mu.RUnlock()
	if ok {
		return u, nil
	}
	u, err := c.Store.ByID(ctx, id)
	if err != nil {
		return u, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; !ok {
		if len(c.order) < c.size {
			c.order = append(c.order, id)
		} else {
			delete(c.byID, c.order[c.next])
			c.order[c.next] = id
			c.next = (c.next + 1) % c.size
		}
		c.byID[id] = u
	}
	return u, nil
}
