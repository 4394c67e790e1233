package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// openStores returns every store implementation to run the suite against: SQLite always,
// PostgreSQL when TEST_POSTGRES_DSN is set. Each PostgreSQL test gets its own schema.
func openStores(t *testing.T) map[string]*Users {
	t.Helper()
	stores := map[string]*Users{}
	sqlitePath := filepath.Join(t.TempDir(), "sub", "users.db")
	s, err := Open(sqlitePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	stores["sqlite"] = s

	dsn := os.Getenv("TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Log("TEST_POSTGRES_DSN not set: PostgreSQL cases skipped")
		return stores
	}
	stores["postgres"] = openPostgresSchema(t, dsn)
	return stores
}

func openPostgresSchema(t *testing.T, dsn string) *Users {
	t.Helper()
	s, err := Open(freshPostgresSchema(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freshPostgresSchema creates an empty schema, dropped when the test ends, and returns dsn
// pointed at it.
func freshPostgresSchema(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := Open(dsn)
	if err != nil {
		t.Fatalf("TEST_POSTGRES_DSN is set but PostgreSQL is not reachable: %v", err)
	}
	schema := fmt.Sprintf("store_test_%d", time.Now().UnixNano())
	if err := admin.db.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.db.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// TestInstancesStartingTogether: several instances migrating one empty database at once all
// start.
func TestInstancesStartingTogether(t *testing.T) {
	dsns := map[string]string{"sqlite": filepath.Join(t.TempDir(), "users.db")}
	if dsn := os.Getenv("TEST_POSTGRES_DSN"); dsn != "" {
		dsns["postgres"] = freshPostgresSchema(t, dsn)
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			errs := make(chan error, 4)
			for i := 0; i < 4; i++ {
				go func() {
					s, err := Open(dsn)
					if err == nil {
						s.Close()
					}
					errs <- err
				}()
			}
			for i := 0; i < 4; i++ {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestUsers(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()

			u := account.User{Username: "alice", PasswordHash: []byte("hash")}
			if err := s.Create(ctx, &u); err != nil {
				t.Fatal(err)
			}
			if u.ID == 0 || u.CreatedAt.IsZero() {
				t.Fatalf("Create did not fill ID and CreatedAt: %+v", u)
			}

			dup := account.User{Username: "alice", PasswordHash: []byte("other")}
			if err := s.Create(ctx, &dup); !errors.Is(err, account.ErrUsernameTaken) {
				t.Fatalf("duplicate: got %v, want ErrUsernameTaken", err)
			}

			byName, err := s.ByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			byID, err := s.ByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range []account.User{byName, byID} {
				if got.ID != u.ID || got.Username != "alice" || string(got.PasswordHash) != "hash" || !got.CreatedAt.Equal(u.CreatedAt) {
					t.Fatalf("loaded %+v, stored %+v", got, u)
				}
			}

			if _, err := s.ByUsername(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("unknown name: got %v", err)
			}
			if _, err := s.ByUsername(ctx, "ALICE"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("usernames are exact: got %v", err)
			}
			if _, err := s.ByID(ctx, u.ID+1000); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("unknown id: got %v", err)
			}
		})
	}
}

// TestConcurrentRegistrationOfOneName: 20 goroutines race to create the same username; exactly
// one wins and the others are told the name is taken, on every database.
func TestConcurrentRegistrationOfOneName(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			const racers = 20
			var wg sync.WaitGroup
			errs := make([]error, racers)
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.Create(context.Background(), &account.User{Username: "contested", PasswordHash: []byte{byte(i)}})
				}()
			}
			wg.Wait()
			created := 0
			for _, err := range errs {
				switch {
				case err == nil:
					created++
				case errors.Is(err, account.ErrUsernameTaken):
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if created != 1 {
				t.Fatalf("%d registrations succeeded, want exactly 1", created)
			}
		})
	}
}

func TestOpenRejectsEmptyDSN(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Fatal("want an error")
	}
}

func TestRedact(t *testing.T) {
	got := redact("postgres://user:secret@db:5432/app")
	if got != "postgres://***@db:5432/app" {
		t.Fatal(got)
	}
}
