package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

type countingStore struct {
	account.Store
	loads int
}

func (s *countingStore) ByID(_ context.Context, id uint64) (account.User, error) {
	s.loads++
	if id == 0 {
		return account.User{}, account.ErrNotFound
	}
	return account.User{ID: id, Username: "u"}, nil
}

func TestCached(t *testing.T) {
	s := &countingStore{}
	c := NewCached(s, 2, time.Hour)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if u, err := c.ByID(ctx, 1); err != nil || u.ID != 1 {
			t.Fatal(u, err)
		}
	}
	if s.loads != 1 {
		t.Fatalf("%d loads for one account", s.loads)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.ByID(ctx, 0); !errors.Is(err, account.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if s.loads != 3 {
		t.Fatalf("misses must not be cached: %d loads", s.loads)
	}
	c.ByID(ctx, 2)
	c.ByID(ctx, 3) // evicts 1, the oldest
	before := s.loads
	c.ByID(ctx, 1)
	if s.loads != before+1 || len(c.byID) != 2 {
		t.Fatalf("size bound: %d loads, %d cached", s.loads-before, len(c.byID))
	}
}

// TestCachedForgetsAndAges: a forgotten account (deleted elsewhere) and one older than the
// cache's max age are loaded again.
func TestCachedForgetsAndAges(t *testing.T) {
	s := &countingStore{}
	c := NewCached(s, 10, time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()
	c.ByID(ctx, 1)
	c.Forget(1)
	c.ByID(ctx, 1)
	if s.loads != 2 {
		t.Fatalf("a forgotten account was not loaded again: %d loads", s.loads)
	}
	now = now.Add(59 * time.Second)
	c.ByID(ctx, 1)
	now = now.Add(2 * time.Second)
	c.ByID(ctx, 1)
	if s.loads != 3 {
		t.Fatalf("%d loads; want one more, after the max age only", s.loads)
	}
}

func BenchmarkUserLookup(b *testing.B) {
	users, err := Open(b.TempDir() + "/users.db")
	if err != nil {
		b.Fatal(err)
	}
	defer users.Close()
	u := account.User{Username: "bench", PasswordHash: []byte("x")}
	if err := users.Create(context.Background(), &u, ""); err != nil {
		b.Fatal(err)
	}
	for name, s := range map[string]account.Store{"store": users, "cached": NewCached(users, 1024, time.Minute)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.ByID(context.Background(), u.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
