// Package accounttest builds the account use cases over a real SQLite store in a temporary
// folder, for tests of the account package and of the layers above it.
package accounttest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/lockout"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
	"github.com/gomicro-stack/gomicro-stack/service/user/store"
)

// NewService returns the use cases and the keys that sign their tokens; everything is closed
// when the test ends. bcrypt runs at its minimum cost to keep tests fast.
func NewService(t testing.TB) (*account.Service, *auth.Keys) {
	svc, keys, _ := NewServiceWith(t, Options{})
	return svc, keys
}

// NewServiceTelling is NewService with notifier told of registrations and logins.
func NewServiceTelling(t testing.TB, notifier account.Notifier) (*account.Service, *auth.Keys) {
	svc, keys, _ := NewServiceWith(t, Options{Notifier: notifier})
	return svc, keys
}

// Options change what NewServiceWith builds.
type Options struct {
	// Notifier is told of what happens (default: no one).
	Notifier account.Notifier
	// RefreshTTL is the refresh tokens' lifetime (default: a day).
	RefreshTTL time.Duration
	// Lockout locks accounts after wrong passwords (default: none).
	Lockout *lockout.Lockout
	// Accounts and Sessions wrap the store the use cases see, for tests that stage a race
	// (default: the store itself).
	Accounts func(account.Store) account.Store
	Sessions func(account.SessionStore) account.SessionStore
}

// NewServiceWith is NewService as o says, with the store underneath.
func NewServiceWith(t testing.TB, o Options) (*account.Service, *auth.Keys, *store.Users) {
	t.Helper()
	if o.RefreshTTL == 0 {
		o.RefreshTTL = 24 * time.Hour
	}
	users, err := store.Open(filepath.Join(t.TempDir(), "users.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { users.Close() })
	keys, err := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: strings.Repeat("k", 32), Issuer: "test"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hashing, err := account.NewHashing(bcrypt.MinCost, 2)
	if err != nil {
		t.Fatal(err)
	}
	var accounts account.Store = users
	if o.Accounts != nil {
		accounts = o.Accounts(users)
	}
	var sessions account.SessionStore = users
	if o.Sessions != nil {
		sessions = o.Sessions(users)
	}
	svc, err := account.NewService(account.Deps{Store: accounts, Sessions: sessions, Tokens: keys, Notifier: o.Notifier,
		Hashing: hashing, Lockout: o.Lockout, RefreshTTL: o.RefreshTTL})
	if err != nil {
		t.Fatal(err)
	}
	return svc, keys, users
}
