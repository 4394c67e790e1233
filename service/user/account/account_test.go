package account_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gomicro-stack/gomicro-stack/internal/lockout"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
	"github.com/gomicro-stack/gomicro-stack/service/user/account/accounttest"
)

func TestValidateUsername(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"A.b_c-9", true},
		{strings.Repeat("a", 32), true},
		{"ab", false},
		{strings.Repeat("a", 33), false},
		{"", false},
		{"has space", false},
		{"émile", false},
		{"a/b", false},
		{"abc\n", false},
		{"'; DROP TABLE users;--", false},
	} {
		err := account.ValidateUsername(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateUsername(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		password string
		ok       bool
	}{
		{"12345678", true},
		{strings.Repeat("p", 72), true},
		{"1234567", false},
		{strings.Repeat("p", 73), false},
		{"", false},
		{strings.Repeat("é", 36), true}, // 72 bytes
		{strings.Repeat("é", 37), false},
	} {
		err := account.ValidatePassword(tc.password)
		if (err == nil) != tc.ok {
			t.Errorf("ValidatePassword(%d bytes) = %v, want ok=%v", len(tc.password), err, tc.ok)
		}
	}
}

func TestRegisterLoginProfile(t *testing.T) {
	svc, keys := accounttest.NewService(t)
	ctx := context.Background()

	u, err := svc.Register(ctx, "alice", "correct horse", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(u.PasswordHash) == "correct horse" || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("correct horse")) != nil {
		t.Fatal("password must be stored as a bcrypt hash")
	}

	tokens, logged, err := svc.Login(ctx, "alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if tokens.Refresh == "" || tokens.AccessExpiry.IsZero() {
		t.Fatalf("login answered %+v", tokens)
	}
	id, err := keys.Verify(tokens.Access)
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != u.ID || id.Username != "alice" || logged.ID != u.ID {
		t.Fatalf("token speaks for %+v, want user %d", id, u.ID)
	}

	profile, err := svc.Profile(ctx, u.ID)
	if err != nil || profile.Username != "alice" {
		t.Fatalf("Profile: %+v %v", profile, err)
	}
	if _, err := svc.Profile(ctx, u.ID+1); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("Profile of unknown id: %v", err)
	}
}

func TestRegisterRejects(t *testing.T) {
	svc, _ := accounttest.NewService(t)
	ctx := context.Background()
	if _, err := svc.Register(ctx, "taken", "password1", ""); err != nil {
		t.Fatal(err)
	}
	var invalid *account.InvalidInputError
	for _, tc := range []struct {
		name, username, password string
		check                    func(error) bool
	}{
		{"taken name", "taken", "password2", func(err error) bool { return errors.Is(err, account.ErrUsernameTaken) }},
		{"taken name in another case", "TaKeN", "password2", func(err error) bool { return errors.Is(err, account.ErrUsernameTaken) }},
		{"bad name", "x", "password1", func(err error) bool { return errors.As(err, &invalid) && invalid.Field == "username" }},
		{"short password", "newuser", "short", func(err error) bool { return errors.As(err, &invalid) && invalid.Field == "password" }},
		{"long password", "newuser", strings.Repeat("p", 73), func(err error) bool { return errors.As(err, &invalid) && invalid.Field == "password" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := svc.Register(ctx, tc.username, tc.password, ""); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestLoginRejects(t *testing.T) {
	svc, _ := accounttest.NewService(t)
	ctx := context.Background()
	if _, err := svc.Register(ctx, "bob", "password1", ""); err != nil {
		t.Fatal(err)
	}
	var invalid *account.InvalidInputError
	for _, tc := range []struct {
		name, username, password string
		check                    func(error) bool
	}{
		{"wrong password", "bob", "password2", func(err error) bool { return errors.Is(err, account.ErrBadCredentials) }},
		{"unknown user", "nobody", "password1", func(err error) bool { return errors.Is(err, account.ErrBadCredentials) }},
		{"missing password", "bob", "", func(err error) bool { return errors.As(err, &invalid) }},
		{"missing username", "", "password1", func(err error) bool { return errors.As(err, &invalid) }},
		// bcrypt would compare only the first 72 bytes: password1 + 64 more would pass.
		{"password over 72 bytes", "bob", "password1" + strings.Repeat("x", 64), func(err error) bool { return errors.As(err, &invalid) && invalid.Field == "password" }},
		{"other case, wrong password", "BOB", "password2", func(err error) bool { return errors.Is(err, account.ErrBadCredentials) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := svc.Login(ctx, tc.username, tc.password); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

type recorder struct{ events []string }

func (r *recorder) UserRegistered(id uint64, name string) {
	r.events = append(r.events, fmt.Sprintf("registered %d %s", id, name))
}

func (r *recorder) UserLoggedIn(id uint64, name string) {
	r.events = append(r.events, fmt.Sprintf("logged in %d %s", id, name))
}

func (r *recorder) TokensRevoked(id uint64) {
	r.events = append(r.events, fmt.Sprintf("revoked %d", id))
}

func (r *recorder) UserDeleted(id uint64) {
	r.events = append(r.events, fmt.Sprintf("deleted %d", id))
}

func TestNotifies(t *testing.T) {
	var r recorder
	svc, _ := accounttest.NewServiceTelling(t, &r)
	ctx := context.Background()
	u, err := svc.Register(ctx, "carol", "password1", "")
	if err != nil {
		t.Fatal(err)
	}
	svc.Register(ctx, "carol", "password1", "") // taken: no event
	svc.Login(ctx, "carol", "wrong password")   // failed: no event
	if _, _, err := svc.Login(ctx, "carol", "password1"); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("registered %d carol", u.ID), fmt.Sprintf("logged in %d carol", u.ID)}
	if strings.Join(r.events, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", r.events, want)
	}
}

func TestLoginInAnyCase(t *testing.T) {
	svc, _ := accounttest.NewService(t)
	ctx := context.Background()
	r, err := svc.Register(ctx, "Carol", "password1", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"Carol", "carol", "CAROL"} {
		if _, u, err := svc.Login(ctx, spelling, "password1"); err != nil || u.ID != r.ID || u.Username != "Carol" {
			t.Fatalf("login as %s: %+v, %v", spelling, u, err)
		}
	}
}

func TestIdempotentRegistration(t *testing.T) {
	svc, _ := accounttest.NewService(t)
	ctx := context.Background()
	first, err := svc.Register(ctx, "dave", "password1", "key-1")
	if err != nil || first.Replayed {
		t.Fatalf("first: %+v, %v", first, err)
	}
	// The answer was lost; the client retries with the same key and gets the same account.
	again, err := svc.Register(ctx, "dave", "password1", "key-1")
	if err != nil || !again.Replayed || again.ID != first.ID {
		t.Fatalf("retry: %+v, %v; want a replay of id %d", again, err, first.ID)
	}
	for _, tc := range []struct{ name, username, password, key string }{
		{"other username", "erin", "password1", "key-1"},
		{"other password", "dave", "password2", "key-1"},
	} {
		if _, err := svc.Register(ctx, tc.username, tc.password, tc.key); !errors.Is(err, account.ErrKeyReused) {
			t.Errorf("%s: %v, want ErrKeyReused", tc.name, err)
		}
	}
	// Without the key the name is simply taken; a new key is a new registration.
	if _, err := svc.Register(ctx, "dave", "password1", ""); !errors.Is(err, account.ErrUsernameTaken) {
		t.Errorf("no key: %v", err)
	}
	if _, err := svc.Register(ctx, "dave", "password1", "key-2"); !errors.Is(err, account.ErrUsernameTaken) {
		t.Errorf("new key: %v", err)
	}
	var invalid *account.InvalidInputError
	if _, err := svc.Register(ctx, "frank", "password1", "has space"); !errors.As(err, &invalid) {
		t.Errorf("bad key: %v", err)
	}
}

// TestTheServiceLocksToo: a caller inside the network that reaches the service without a
// gateway meets the same lock: wrong passwords at login and at delete count towards one lock
// per account (in any letter case), an unknown name locks alike, and a locked account's
// password is not even checked.
func TestTheServiceLocksToo(t *testing.T) {
	locks, err := lockout.New(lockout.Config{Failures: 3, Increment: time.Minute, Max: time.Hour, Reset: time.Hour}, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, keys, _ := accounttest.NewServiceWith(t, accounttest.Options{Lockout: locks})
	ctx := context.Background()
	if _, err := svc.Register(ctx, "Target", "the password", ""); err != nil {
		t.Fatal(err)
	}
	tokens, _, err := svc.Login(ctx, "target", "the password")
	if err != nil {
		t.Fatal(err)
	}
	caller, err := keys.Verify(tokens.Access)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"target", "TARGET"} {
		if _, _, err := svc.Login(ctx, name, "a guess"); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if err := svc.Delete(ctx, caller, "another guess"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("wrong password at delete: %v", err)
	}
	var locked *account.LockedError
	if _, _, err := svc.Login(ctx, "Target", "the password"); !errors.As(err, &locked) || locked.RetryAfter <= 0 {
		t.Fatalf("the right password after 3 wrong ones: %v, want locked", err)
	}
	if err := svc.Delete(ctx, caller, "the password"); !errors.As(err, &locked) {
		t.Fatalf("delete while locked: %v, want locked", err)
	}
	for range 3 {
		svc.Login(ctx, "nobody-here", "a guess")
	}
	if _, _, err := svc.Login(ctx, "nobody-here", "a guess"); !errors.As(err, &locked) {
		t.Fatalf("an unknown name after 3 guesses: %v, want locked like any", err)
	}
}

// keyNotYetSeen is a store whose first look-up of an Idempotency-Key misses, as it does for a
// retry that reads the key just before the first try commits it.
type keyNotYetSeen struct {
	account.Store
	looked bool
}

func (s *keyNotYetSeen) ByIdempotencyKey(ctx context.Context, key string) (account.User, error) {
	if !s.looked {
		s.looked = true
		return account.User{}, account.ErrNotFound
	}
	return s.Store.ByIdempotencyKey(ctx, key)
}

// TestRetryThatLosesTheRaceReplays: a retry that found no key, hashed, and then lost the
// insert to the first try (ErrKeyTaken) answers as the first try did.
func TestRetryThatLosesTheRaceReplays(t *testing.T) {
	var store *keyNotYetSeen
	svc, _, _ := accounttest.NewServiceWith(t, accounttest.Options{Accounts: func(s account.Store) account.Store {
		store = &keyNotYetSeen{Store: s, looked: true}
		return store
	}})
	ctx := context.Background()
	first, err := svc.Register(ctx, "gina", "password1", "race-key")
	if err != nil {
		t.Fatal(err)
	}
	store.looked = false
	retry, err := svc.Register(ctx, "gina", "password1", "race-key")
	if err != nil || !retry.Replayed || retry.ID != first.ID {
		t.Fatalf("the retry that lost the insert: %+v, %v; want a replay of id %d", retry, err, first.ID)
	}
	store.looked = false
	if _, err := svc.Register(ctx, "gina", "another password", "race-key"); !errors.Is(err, account.ErrKeyReused) {
		t.Fatalf("a different request that lost the insert: %v, want ErrKeyReused", err)
	}
}
