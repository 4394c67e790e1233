package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

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
			if err := s.Create(ctx, &u, ""); err != nil {
				t.Fatal(err)
			}
			if u.ID == 0 || u.CreatedAt.IsZero() {
				t.Fatalf("Create did not fill ID and CreatedAt: %+v", u)
			}

			dup := account.User{Username: "alice", PasswordHash: []byte("other")}
			if err := s.Create(ctx, &dup, ""); !errors.Is(err, account.ErrUsernameTaken) {
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
			if got, err := s.ByUsername(ctx, "ALICE"); err != nil || got.ID != u.ID {
				t.Fatalf("ALICE is alice: got %+v, %v", got, err)
			}
			if err := s.Create(ctx, &account.User{Username: "Alice", PasswordHash: []byte("x")}, ""); !errors.Is(err, account.ErrUsernameTaken) {
				t.Fatalf("Alice beside alice: got %v, want ErrUsernameTaken", err)
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
		t.Run(name, func(t *testing.T) { raceCreate(t, s, 20, "contested", "", account.ErrUsernameTaken) })
	}
}

// raceCreate creates one username from racers goroutines at once, with key; exactly one must
// succeed and every other fail with want.
func raceCreate(t *testing.T, s *Users, racers int, username, key string, want error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Create(context.Background(), &account.User{Username: username, PasswordHash: []byte{byte(i)}}, key)
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case errors.Is(err, want):
		default:
			t.Fatalf("unexpected error: %v (all: %v)", err, errs)
		}
	}
	if created != 1 {
		t.Fatalf("%d registrations succeeded, want exactly 1", created)
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

func TestIdempotencyKeys(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := account.User{Username: "Dave", PasswordHash: []byte("hash")}
			if err := s.Create(ctx, &u, "key-1"); err != nil {
				t.Fatal(err)
			}
			got, err := s.ByIdempotencyKey(ctx, "key-1")
			if err != nil || got.ID != u.ID || got.Username != "Dave" {
				t.Fatalf("by key: %+v, %v", got, err)
			}
			if err := s.Create(ctx, &account.User{Username: "erin", PasswordHash: []byte("h")}, "key-1"); !errors.Is(err, account.ErrKeyTaken) {
				t.Fatalf("second use of a key: %v, want ErrKeyTaken", err)
			}
			if _, err := s.ByUsername(ctx, "erin"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("the refused registration was stored: %v", err)
			}
			if _, err := s.ByIdempotencyKey(ctx, "key-2"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("unknown key: %v", err)
			}
			// An expired key is forgotten and free again.
			if err := s.db.Model(&idempotencyRow{}).Where("idempotency_key = ?", "key-1").Update("created_at", time.Now().Add(-KeyLifetime-time.Minute)).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := s.ByIdempotencyKey(ctx, "key-1"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("expired key: %v", err)
			}
			if err := s.Create(ctx, &account.User{Username: "erin", PasswordHash: []byte("h")}, "key-1"); err != nil {
				t.Fatalf("reuse of an expired key: %v", err)
			}
		})
	}
}

// TestRetriesWithOneKeyRace: a registration and its retries run at once with one key; one
// creates the account and every other learns that the key is taken, never that the username
// is (which would tell a retrying client that its own account belongs to someone else).
func TestRetriesWithOneKeyRace(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) { raceCreate(t, s, 10, "retrier", "same-key", account.ErrKeyTaken) })
	}
}

// legacyUserRow is the users table as it was before canonical names.
type legacyUserRow struct {
	ID           uint64    `gorm:"primaryKey;autoIncrement"`
	Username     string    `gorm:"size:32;not null;uniqueIndex"`
	PasswordHash []byte    `gorm:"not null"`
	CreatedAt    time.Time `gorm:"not null"`
}

func (legacyUserRow) TableName() string { return "users" }

// TestMigrationFillsCanonicalNames: a database from before canonical names, with two accounts
// differing only in case, opens; every old account still logs in with its exact spelling, the
// oldest also with any other case, and no new account can take any of those names.
func TestMigrationFillsCanonicalNames(t *testing.T) {
	dsns := map[string]string{"sqlite": filepath.Join(t.TempDir(), "legacy.db")}
	if dsn := os.Getenv("TEST_POSTGRES_DSN"); dsn != "" {
		dsns["postgres"] = freshPostgresSchema(t, dsn)
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			dialector, err := dialectorFor(dsn)
			if err != nil {
				t.Fatal(err)
			}
			legacy, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
			if err != nil {
				t.Fatal(err)
			}
			if err := legacy.AutoMigrate(&legacyUserRow{}); err != nil {
				t.Fatal(err)
			}
			old := []legacyUserRow{{Username: "Alice"}, {Username: "alice"}, {Username: "bob"}}
			for i := range old {
				old[i].PasswordHash, old[i].CreatedAt = []byte("h"), time.Now()
				if err := legacy.Create(&old[i]).Error; err != nil {
					t.Fatal(err)
				}
			}
			if db, err := legacy.DB(); err == nil {
				db.Close()
			}

			s, err := Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			for spelling, want := range map[string]uint64{"Alice": old[0].ID, "alice": old[1].ID, "ALICE": old[0].ID, "bob": old[2].ID, "BoB": old[2].ID} {
				if got, err := s.ByUsername(ctx, spelling); err != nil || got.ID != want {
					t.Errorf("login as %s: %+v, %v; want id %d", spelling, got, err, want)
				}
			}
			for _, taken := range []string{"ALICE", "aLiCe", "Bob"} {
				if err := s.Create(ctx, &account.User{Username: taken, PasswordHash: []byte("h")}, ""); !errors.Is(err, account.ErrUsernameTaken) {
					t.Errorf("register %s: %v, want ErrUsernameTaken", taken, err)
				}
			}
			// Opening again (another instance, a restart) changes nothing.
			again, err := Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			again.Close()
		})
	}
}

// TestSessions runs the refresh-token store on every database: rotation spends a token once,
// even when two rotations race; a revoked family revokes its unexpired access tokens; a deleted
// account takes its sessions along.
func TestSessions(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now().UTC()
			u := account.User{Username: "sessions_" + name, PasswordHash: []byte("x")}
			if err := s.Create(ctx, &u, ""); err != nil {
				t.Fatal(err)
			}
			session := func(hash, access string, accessExpires time.Time) account.Session {
				return account.Session{Hash: hash, Family: "family1", UserID: u.ID, ExpiresAt: now.Add(time.Hour), AccessID: access, AccessExpires: accessExpires}
			}
			if err := s.CreateSession(ctx, session("h1", "a1", now.Add(time.Minute))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SessionByHash(ctx, "nope"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("unknown hash: %v", err)
			}

			// Eight rotations of h1 at once: one wins.
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.RotateSession(ctx, "h1", session(fmt.Sprintf("h2-%d", i), fmt.Sprintf("a2-%d", i), now.Add(time.Minute)), now)
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, account.ErrSessionUsed):
					t.Fatalf("rotation: %v", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d of 8 racing rotations spent one token", won)
			}
			h1, err := s.SessionByHash(ctx, "h1")
			if err != nil || h1.Used == nil || h1.Revoked != nil || h1.UserID != u.ID {
				t.Fatalf("h1 after its rotation: %+v %v", h1, err)
			}

			// An expired access token of the family needs no revocation.
			if err := s.CreateSession(ctx, session("h-old", "a-expired", now.Add(-time.Minute))); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeFamily(ctx, "family1", now); err != nil {
				t.Fatal(err)
			}
			list, err := s.RevocationsSince(ctx, now.Add(-time.Minute), now)
			if err != nil {
				t.Fatal(err)
			}
			var revoked []string
			for _, r := range list {
				revoked = append(revoked, r.TokenID)
			}
			if len(revoked) != 2 || !slices.Contains(revoked, "a1") || slices.Contains(revoked, "a-expired") {
				t.Fatalf("revoked %v; want a1 and the winning rotation's token", revoked)
			}
			if err := s.RotateSession(ctx, fmt.Sprintf("h2-%d", slices.Index(errs, nil)), session("h3", "a3", now), now); !errors.Is(err, account.ErrSessionRevoked) {
				t.Fatalf("rotating a revoked session: %v", err)
			}
			if list, _ := s.RevocationsSince(ctx, now.Add(time.Hour), now); len(list) != 0 {
				t.Fatalf("revocations recorded later than asked: %v", list)
			}

			cut := account.Revocation{UserID: u.ID, IssuedBefore: now.Unix() + 1, Until: now.Add(time.Hour)}
			if err := s.DeleteUser(ctx, u.ID, cut); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SessionByHash(ctx, "h1"); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("a deleted user's session: %v", err)
			}
			if _, err := s.ByID(ctx, u.ID); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("the deleted user: %v", err)
			}
			if err := s.DeleteUser(ctx, u.ID, cut); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("deleting twice: %v", err)
			}
			list, _ = s.RevocationsSince(ctx, time.Time{}, now)
			if !slices.ContainsFunc(list, func(r account.Revocation) bool { return r.UserID == u.ID && r.IssuedBefore == now.Unix()+1 }) {
				t.Fatalf("no revocation of the deleted user in %v", list)
			}
			// Past their until, revocations are no longer listed.
			if list, _ := s.RevocationsSince(ctx, time.Time{}, now.Add(2*time.Hour)); len(list) != 0 {
				t.Fatalf("expired revocations listed: %v", list)
			}
		})
	}
}
