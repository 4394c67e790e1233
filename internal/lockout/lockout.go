// Package lockout locks an account after repeated wrong passwords, as Keycloak's brute-force
// detection does: a count of failures, a lock that grows by an increment every Failures
// failures up to a maximum, the count forgotten a while after the last failure and at once
// after a success. The gateway keeps one (its limits) and so does each user service instance,
// for callers that reach it from inside the network without a gateway. The state lives in
// memory, per process.
package lockout

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Config is a lockout's settings; the keys are those of the gateway's limits.* since the first
// version.
type Config struct {
	// Failures wrong passwords lock the account for Increment, 2×Increment after twice as many,
	// and so on up to Max; failures are forgotten Reset after the last.
	Failures  int           `mapstructure:"login_failures" default:"10" refresh:"true" usage:"wrong passwords (login or delete) for an account before it is locked (then again every as many)"`
	Increment time.Duration `mapstructure:"lock_increment" default:"30s" refresh:"true" usage:"a lock lasts this much longer each time login_failures more fail"`
	Max       time.Duration `mapstructure:"lock_max" default:"15m" refresh:"true" usage:"longest lock"`
	Reset     time.Duration `mapstructure:"failure_reset" default:"12h" refresh:"true" usage:"wrong passwords are forgotten this long after the last one"`
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.Failures < 1 || c.Increment <= 0 || c.Max < c.Increment || c.Reset <= 0 {
		return fmt.Errorf("login_failures (%d) must be at least 1, lock_increment (%s) and failure_reset (%s) positive, lock_max (%s) at least lock_increment",
			c.Failures, c.Increment, c.Reset, c.Max)
	}
	return nil
}

// Lockout counts wrong passwords by account; it is safe for concurrent use.
type Lockout struct {
	config atomic.Pointer[Config]
	now    func() time.Time

	mu       sync.Mutex
	max      int
	accounts map[string]*account
}

type account struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

// New returns a lockout with c that tracks at most maxTracked accounts, on the clock now (nil:
// time.Now).
func New(c Config, maxTracked int, now func() time.Time) (*Lockout, error) {
	if maxTracked < 1 {
		return nil, fmt.Errorf("lockout: want at least 1 account tracked, got %d", maxTracked)
	}
	if now == nil {
		now = time.Now
	}
	l := &Lockout{now: now, max: maxTracked, accounts: map[string]*account{}}
	if err := l.Update(c); err != nil {
		return nil, err
	}
	return l, nil
}

// Update applies new settings; the counts and locks are kept.
func (l *Lockout) Update(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	l.config.Store(&c)
	return nil
}

// LockedFor is how long the account stays locked (0: it is not).
func (l *Lockout) LockedFor(name string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.accounts[name]; a != nil && now.Before(a.lockedUntil) {
		return a.lockedUntil.Sub(now)
	}
	return 0
}

// Failed counts a wrong password for the account. Every one counts: nothing sent along with
// a guess makes two guesses one.
func (l *Lockout) Failed(name string) {
	c := l.config.Load()
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[name]
	if a == nil {
		if len(l.accounts) >= l.max {
			l.evict(now, c.Reset)
		}
		a = &account{}
		l.accounts[name] = a
	}
	if !a.lastFailure.IsZero() && now.Sub(a.lastFailure) > c.Reset {
		a.failures = 0
	}
	a.failures++
	a.lastFailure = now
	if steps := a.failures / c.Failures; steps > 0 {
		a.lockedUntil = now.Add(min(c.Max, time.Duration(steps)*c.Increment))
	}
}

// Succeeded forgets the account's wrong passwords, as Keycloak does after a login.
func (l *Lockout) Succeeded(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.accounts, name)
}

// evict drops the accounts whose failures are forgotten and that are not locked, then arbitrary
// unlocked ones, then any, until an eighth of the room is free: bounding memory matters more
// than one account's count, and a batch keeps a flood of fresh names from paying a scan each.
func (l *Lockout) evict(now time.Time, reset time.Duration) {
	keep := l.max - max(1, l.max/8)
	for name, a := range l.accounts {
		if now.Sub(a.lastFailure) > reset && !now.Before(a.lockedUntil) {
			delete(l.accounts, name)
		}
	}
	for _, lockedToo := range []bool{false, true} {
		for name, a := range l.accounts {
			if len(l.accounts) <= keep {
				return
			}
			if lockedToo || !now.Before(a.lockedUntil) {
				delete(l.accounts, name)
			}
		}
	}
}
