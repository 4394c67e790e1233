package revocation

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
)

func TestList(t *testing.T) {
	const now = 1_000_000
	l := NewList()
	l.Add([]Entry{
		{TokenID: "logged-out", Until: now + 60},
		{UserID: 7, IssuedBefore: now, Until: now + 900},
		{TokenID: "long-gone", Until: now - 1},
	}, now)
	for _, tc := range []struct {
		name string
		id   auth.Identity
		want bool
	}{
		{"the logged-out token", auth.Identity{UserID: 1, TokenID: "logged-out", TokenIssuedAt: now - 10}, true},
		{"another token of the same user", auth.Identity{UserID: 1, TokenID: "other", TokenIssuedAt: now - 10}, false},
		{"a deleted user's token", auth.Identity{UserID: 7, TokenID: "x", TokenIssuedAt: now - 1}, true},
		{"a token issued after the deletion (same id again)", auth.Identity{UserID: 7, TokenID: "y", TokenIssuedAt: now}, false},
		{"an expired revocation", auth.Identity{UserID: 2, TokenID: "long-gone"}, false},
	} {
		if got := l.Revoked(tc.id); got != tc.want {
			t.Errorf("%s: revoked=%v, want %v", tc.name, got, tc.want)
		}
	}
	if l.Len() != 2 {
		t.Fatalf("%d in force, want 2", l.Len())
	}
	// Later reads keep the widest cut (the latest issued_before, the latest until), whichever
	// comes in which order, and drop what has run out. The narrower entry is still in force
	// when it is added, so that it really meets the one in place.
	l.Add([]Entry{{UserID: 7, IssuedBefore: now - 100, Until: now + 100}}, now+61)
	if !l.Revoked(auth.Identity{UserID: 7, TokenIssuedAt: now - 1}) {
		t.Fatal("an older cut replaced a newer one")
	}
	if l.Revoked(auth.Identity{TokenID: "logged-out"}) || l.Len() != 1 {
		t.Fatalf("the logged-out token's entry outlived its until: %d in force", l.Len())
	}
	l.Add(nil, now+200)
	if !l.Revoked(auth.Identity{UserID: 7, TokenIssuedAt: now - 1}) {
		t.Fatal("a shorter until replaced a longer one")
	}
}

// TestKicksAreCoalesced: a flood of kicks (forged auth.revoked events) reads at most once per
// gap; a kick after a quiet spell still reads at once.
func TestKicksAreCoalesced(t *testing.T) {
	src := &fakeSource{nowMs: time.Now().UnixMilli()}
	s := NewSyncer(NewList(), src.fetch, time.Second, 100*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, time.Hour)
	reads := func() int {
		src.mu.Lock()
		defer src.mu.Unlock()
		return len(src.sinces)
	}
	began := time.Now()
	for reads() == 0 || time.Since(began) < 500*time.Millisecond {
		s.Kick()
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(began)
	if most := 2 + int(elapsed/(100*time.Millisecond)); reads() > most {
		t.Fatalf("%d reads for a flood of kicks over %s, want at most %d", reads(), elapsed.Round(time.Millisecond), most)
	}
	t.Logf("%d reads for %s of kicks every 0.1 ms", reads(), elapsed.Round(time.Millisecond))
}

// fakeSource records the since of each read and answers what it holds.
type fakeSource struct {
	mu      sync.Mutex
	entries []Entry
	nowMs   int64
	sinces  []int64
	fail    error
}

func (f *fakeSource) fetch(_ context.Context, since int64) ([]Entry, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinces = append(f.sinces, since)
	if f.fail != nil {
		return nil, 0, f.fail
	}
	return f.entries, f.nowMs, nil
}

func TestSyncer(t *testing.T) {
	now := time.Now()
	src := &fakeSource{nowMs: now.UnixMilli(), entries: []Entry{{TokenID: "a", Until: now.Unix() + 60}}}
	l := NewList()
	s := NewSyncer(l, src.fetch, time.Second, time.Millisecond)
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !l.Revoked(auth.Identity{TokenID: "a"}) {
		t.Fatal("first read not applied")
	}
	src.fail = errors.New("user service down")
	if err := s.Sync(context.Background()); err == nil {
		t.Fatal("a failed read must say so")
	}
	if !l.Revoked(auth.Identity{TokenID: "a"}) {
		t.Fatal("a failed read lost what was known")
	}
	if src.sinces[0] != 0 || src.sinces[1] != now.UnixMilli()-overlap.Milliseconds() {
		t.Fatalf("reads asked since %v; want 0, then the last answer's time less the overlap", src.sinces)
	}

	// A kick reads at once, long before the interval.
	src.mu.Lock()
	src.fail = nil
	src.entries = []Entry{{TokenID: "b", Until: now.Unix() + 60}}
	src.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, time.Hour)
	s.Kick()
	deadline := time.Now().Add(5 * time.Second)
	for !l.Revoked(auth.Identity{TokenID: "b"}) {
		if time.Now().After(deadline) {
			t.Fatal("a kick did not read")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkRevoked is the check on every authenticated request, against 100 000 revocations.
func BenchmarkRevoked(b *testing.B) {
	l := NewList()
	until := time.Now().Add(time.Hour).Unix()
	entries := make([]Entry, 100_000)
	for i := range entries {
		entries[i] = Entry{TokenID: string(rune('a'+i%26)) + time.Duration(i).String(), UserID: uint64(i + 1), IssuedBefore: until, Until: until}
	}
	l.Add(entries, time.Now().Unix())
	id := auth.Identity{UserID: 1 << 40, TokenID: "not-revoked-token-id-0000", TokenIssuedAt: until}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.Revoked(id) {
				b.Fatal("revoked")
			}
		}
	})
}
