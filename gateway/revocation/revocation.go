// Package revocation keeps the gateway's copy of the revoked access tokens: those logged out,
// those of a refresh family caught reused, those of deleted accounts. The user service holds
// the list; every gateway reads what is new every few seconds and at once when an event says
// something changed, so that a revoked token stops working everywhere within a moment. The
// check on each request is a map lookup.
package revocation

import (
	"context"
	"log"
	"sync"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/outage"
)

// Entry refuses one access token (TokenID), or every token of UserID issued before
// IssuedBefore (Unix seconds); it matters until Until (Unix seconds).
type Entry struct {
	TokenID      string
	UserID       uint64
	IssuedBefore int64
	Until        int64
}

// List is the set of revocations in force.
type List struct {
	mu     sync.RWMutex
	tokens map[string]int64 // jti → until
	users  map[uint64]userCut
}

type userCut struct {
	issuedBefore, until int64
}

// NewList returns an empty list.
func NewList() *List {
	return &List{tokens: map[string]int64{}, users: map[uint64]userCut{}}
}

// Revoked says whether id's token is revoked.
func (l *List) Revoked(id auth.Identity) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.tokens[id.TokenID]; ok {
		return true
	}
	cut, ok := l.users[id.UserID]
	return ok && id.TokenIssuedAt < cut.issuedBefore
}

// Add puts entries in force and drops those that no longer matter at now (Unix seconds).
func (l *List) Add(entries []Entry, now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		if e.Until <= now {
			continue
		}
		if e.TokenID != "" {
			l.tokens[e.TokenID] = e.Until
		}
		if e.UserID != 0 {
			cut := l.users[e.UserID]
			l.users[e.UserID] = userCut{issuedBefore: max(cut.issuedBefore, e.IssuedBefore), until: max(cut.until, e.Until)}
		}
	}
	for jti, until := range l.tokens {
		if until <= now {
			delete(l.tokens, jti)
		}
	}
	for user, cut := range l.users {
		if cut.until <= now {
			delete(l.users, user)
		}
	}
}

// Len is how many revocations are in force.
func (l *List) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.tokens) + len(l.users)
}

// Fetch reads the revocations recorded since the source's time since (0: all in force) and
// returns them with the source's time now, both in Unix milliseconds.
type Fetch func(ctx context.Context, sinceMs int64) (entries []Entry, nowMs int64, err error)

// overlap is how far back each read reaches before the previous one's time: a revocation
// committed a moment late, or stamped by an instance whose clock is behind, is still seen.
const overlap = 10 * time.Second

// Syncer keeps a List current from a Fetch.
type Syncer struct {
	list    *List
	fetch   Fetch
	timeout time.Duration
	minGap  time.Duration
	kick    chan struct{}
	sinceMs int64 // 0 until the first read succeeds
}

// NewSyncer returns a syncer that fills list from fetch, each read bounded by timeout, and
// reads at most once every minGap however often it is kicked: anyone who can publish an event
// can kick, and a flood of forged events must cost the user service one read per minGap, not
// one per event.
func NewSyncer(list *List, fetch Fetch, timeout, minGap time.Duration) *Syncer {
	return &Syncer{list: list, fetch: fetch, timeout: timeout, minGap: minGap, kick: make(chan struct{}, 1)}
}

// Sync reads once.
func (s *Syncer) Sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	since := s.sinceMs
	if since != 0 {
		since -= overlap.Milliseconds()
	}
	entries, nowMs, err := s.fetch(ctx, since)
	if err != nil {
		return err
	}
	s.list.Add(entries, nowMs/1000)
	s.sinceMs = nowMs
	return nil
}

// Kick asks for a read now; kicks while one is pending make one read.
func (s *Syncer) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run reads every interval and on kicks, at most once every minGap, until ctx ends. Failures
// are logged once per outage; the list keeps what it has meanwhile.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var outages outage.Tracker
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.kick:
			// Kicks that come meanwhile wait in the channel (one at most) for the next read.
			if wait := s.minGap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		err := s.Sync(ctx)
		switch outages.Observe(err) {
		case outage.Began:
			log.Printf("revocations: cannot read them from the user service (%v); keeping the %d known", err, s.list.Len())
		case outage.Ended:
			log.Printf("revocations: read again (%d in force)", s.list.Len())
		}
	}
}
