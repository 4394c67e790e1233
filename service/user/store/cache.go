package store

import (
	"context"
	"sync"
	"time"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// Cached keeps the accounts it has loaded by id, so that the profile read behind every hello
// costs a map lookup instead of a query. Accounts do not change, but they can be deleted: a
// deletion anywhere reaches every instance as an event (Forget), and, should that news be
// lost, no entry is believed for longer than maxAge. The cache bounds its size, forgetting the
// oldest entries first. Lookups by username (logins) and misses go to the store.
type Cached struct {
	account.Store
	maxAge time.Duration
	now    func() time.Time

	mu    sync.RWMutex
	byID  map[uint64]cachedUser
	order []uint64 // insertion order, for eviction
	next  int
	size  int
}

type cachedUser struct {
	user     account.User
	loadedAt time.Time
}

// NewCached caches up to size accounts of s, each for at most maxAge.
func NewCached(s account.Store, size int, maxAge time.Duration) *Cached {
	return &Cached{Store: s, maxAge: maxAge, now: time.Now, byID: map[uint64]cachedUser{}, size: size}
}

// ByID answers from the cache, or loads and remembers.
func (c *Cached) ByID(ctx context.Context, id uint64) (account.User, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.byID[id]
	c.mu.RUnlock()
	if ok && now.Sub(e.loadedAt) < c.maxAge {
		return e.user, nil
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
	}
	c.byID[id] = cachedUser{user: u, loadedAt: now}
	return u, nil
}

// Forget drops the account with id, if cached. Its slot in the eviction order stays: should the
// account be cached again, evicting that old slot drops it early, which costs one query.
func (c *Cached) Forget(id uint64) {
	c.mu.Lock()
	delete(c.byID, id)
	c.mu.Unlock()
}
