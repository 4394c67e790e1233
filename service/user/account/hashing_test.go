package account

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hold takes one of h's workers until release is closed.
func hold(t *testing.T, h *Hashing, release <-chan struct{}) {
	t.Helper()
	taken := make(chan struct{})
	go h.run(context.Background(), func() { close(taken); <-release })
	<-taken
}

// TestHashingRefusesWhatCannotFinishInTime: with every worker busy, a call whose deadline
// leaves no room for its turn is refused at once; one with room waits for a worker and runs.
func TestHashingRefusesWhatCannotFinishInTime(t *testing.T) {
	h, err := NewHashing(bcrypt.MinCost, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.averageNanos.Store(int64(200 * time.Millisecond))
	release := make(chan struct{})
	hold(t, h, release)

	tight, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := h.Hash(tight, "password1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("tight deadline: %v, want ErrBusy", err)
	}
	if took := time.Since(began); took > 100*time.Millisecond {
		t.Fatalf("refused after %s, want at once", took)
	}

	roomy, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	done := make(chan error, 1)
	go func() { _, err := h.Hash(roomy, "password1"); done <- err }()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("roomy deadline: %v", err)
	}
}

// TestWaitingCallsGiveUpBeforeTheirDeadline: a call admitted behind a worker that does not
// come free is refused while its caller still waits (a 503 it can act on), not after its
// deadline (a 504 from whoever called).
func TestWaitingCallsGiveUpBeforeTheirDeadline(t *testing.T) {
	h, err := NewHashing(bcrypt.MinCost, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.averageNanos.Store(int64(10 * time.Millisecond))
	h.margin = 100 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	hold(t, h, release)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	if ctx.Err() != nil {
		t.Fatal("refused only after the deadline")
	}
}

// TestHashingBoundsWork: 40 callers on 2 workers never run more than 2 hashes at once, and
// every one is answered.
func TestHashingBoundsWork(t *testing.T) {
	h, err := NewHashing(bcrypt.MinCost, 2)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	running, most := 0, 0
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := h.run(context.Background(), func() {
				mu.Lock()
				running++
				most = max(most, running)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				running--
				mu.Unlock()
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if most > 2 {
		t.Fatalf("%d hashes ran at once on 2 workers", most)
	}
}

func TestNewHashingChecksItsSettings(t *testing.T) {
	for _, tc := range []struct{ cost, workers int }{{3, 1}, {32, 1}, {10, 0}} {
		if _, err := NewHashing(tc.cost, tc.workers); err == nil {
			t.Errorf("cost %d, %d workers: accepted", tc.cost, tc.workers)
		}
	}
}
