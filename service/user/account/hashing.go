package account

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// ErrBusy: every hashing worker is taken, and the request would not get one in time to be
// answered before its deadline, so it is refused at once. It says nothing about the service's
// health (it is a healthy service shedding load), so it must not count against a breaker.
var ErrBusy = errors.New("too many password checks at once; try again shortly")

// Hashing runs bcrypt on a bounded number of workers. bcrypt is made to be slow (tens of
// milliseconds of one CPU at cost 10): without a bound, a flood of registrations or logins runs
// every hash at once, all of them finish late, and nobody is served. Here a request that could
// not start and finish hashing before its deadline is refused at once with ErrBusy, and the
// ones admitted finish in time.
type Hashing struct {
	cost    int
	workers chan struct{}
	// inFlight counts the admitted calls, running or waiting for a worker.
	inFlight atomic.Int64
	// averageNanos is a moving average of one hash's duration, measured as it runs (on a busy
	// machine a hash takes longer, and the estimate follows).
	averageNanos atomic.Int64
	// margin is kept free before a deadline for the answer's way back.
	margin time.Duration
}

// maxInFlight bounds the calls held at once whatever their deadlines, so that callers without
// one cannot pile up.
const maxInFlight = 4096

// NewHashing returns a pool of workers hashing at cost. Its estimate of a hash's duration
// starts from the first hash it runs (the account service's decoy hash, at start).
func NewHashing(cost, workers int) (*Hashing, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost %d: want %d to %d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if workers < 1 {
		return nil, fmt.Errorf("hashing workers %d: want at least 1", workers)
	}
	return &Hashing{cost: cost, workers: make(chan struct{}, workers), margin: 300 * time.Millisecond}, nil
}

// Hash returns the bcrypt hash of password, or ErrBusy.
func (h *Hashing) Hash(ctx context.Context, password string) ([]byte, error) {
	var hash []byte
	var err error
	if runErr := h.run(ctx, func() { hash, err = bcrypt.GenerateFromPassword([]byte(password), h.cost) }); runErr != nil {
		return nil, runErr
	}
	return hash, err
}

// Matches says whether password matches hash, or returns ErrBusy.
func (h *Hashing) Matches(ctx context.Context, hash []byte, password string) (bool, error) {
	var match bool
	if err := h.run(ctx, func() { match = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil }); err != nil {
		return false, err
	}
	return match, nil
}

// Average is the current estimate of one hash's duration.
func (h *Hashing) Average() time.Duration { return time.Duration(h.averageNanos.Load()) }

func (h *Hashing) run(ctx context.Context, hash func()) error {
	if !h.admit(ctx) {
		return ErrBusy
	}
	defer h.inFlight.Add(-1)
	// The estimate at admission can be beaten by a machine that slows down meanwhile: a call
	// still waiting when its own hash could no longer finish in time is refused then, before
	// its deadline, rather than run late.
	var tooLate <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		timer := time.NewTimer(time.Until(deadline) - h.Average() - h.slack())
		defer timer.Stop()
		tooLate = timer.C
	}
	select {
	case h.workers <- struct{}{}:
	case <-tooLate:
		return ErrBusy
	case <-ctx.Done():
		return ErrBusy
	}
	defer func() { <-h.workers }()
	began := time.Now()
	hash()
	h.observe(time.Since(began))
	return nil
}

// slack is the time kept free before a deadline: the margin for the answer's way back, and
// half a hash for a hash that runs slower than the average.
func (h *Hashing) slack() time.Duration { return h.margin + h.Average()/2 }

// admit counts the call in, if it can finish before its deadline behind the calls already
// in: they take the workers in rounds of one hash each, then it runs; a quarter more is
// allowed for a machine that gets busier. Only admitted calls are counted, so that a burst of
// calls refused at once does not make the ones after it look late.
func (h *Hashing) admit(ctx context.Context) bool {
	deadline, hasDeadline := ctx.Deadline()
	for {
		ahead := h.inFlight.Load()
		if ahead >= maxInFlight {
			return false
		}
		if hasDeadline {
			rounds := ahead/int64(cap(h.workers)) + 1
			if time.Until(deadline) < time.Duration(rounds)*h.Average()*5/4+h.slack() {
				return false
			}
		}
		if h.inFlight.CompareAndSwap(ahead, ahead+1) {
			return true
		}
	}
}

// observe moves the average a fifth of the way towards took (the first hash sets it).
func (h *Hashing) observe(took time.Duration) {
	for {
		old := h.averageNanos.Load()
		next := old + (int64(took)-old)/5
		if old == 0 {
			next = int64(took)
		}
		if h.averageNanos.CompareAndSwap(old, next) {
			return
		}
	}
}
