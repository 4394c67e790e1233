// Package activity keeps what the greeter learns about users from events: how many times each
// logged in. It lives in memory: a restarted greeter counts from zero.
package activity

import (
	"sync"

	"github.com/gomicro-stack/gomicro-stack/internal/events"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
)

// Counter counts logins by user.
type Counter struct {
	mu     sync.RWMutex
	logins map[uint64]int64
}

var _ greeting.Activity = (*Counter)(nil)

// NewCounter returns an empty counter.
func NewCounter() *Counter { return &Counter{logins: map[uint64]int64{}} }

// Registered starts a user's count at zero.
func (c *Counter) Registered(e events.UserEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.logins[e.UserID]; !ok {
		c.logins[e.UserID] = 0
	}
}

// LoggedIn counts one login.
func (c *Counter) LoggedIn(e events.UserEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logins[e.UserID]++
}

// Logins is how many logins of the user have been seen.
func (c *Counter) Logins(userID uint64) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.logins[userID]
}
