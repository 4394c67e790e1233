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
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
	"github.com/gomicro-stack/gomicro-stack/service/user/store"
)

// NewService returns the use cases and the keys that sign their tokens; everything is closed
// when the test ends. bcrypt runs at its minimum cost to keep tests fast.
func NewService(t testing.TB) (*account.Service, *auth.Keys) {
	return NewServiceTelling(t, account.Silent{})
}

// NewServiceTelling is NewService with notifier told of registrations and logins.
func NewServiceTelling(t testing.TB, notifier account.Notifier) (*account.Service, *auth.Keys) {
	t.Helper()
	users, err := store.Open(filepath.Join(t.TempDir(), "users.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { users.Close() })
	keys, err := auth.NewKeys(auth.Config{Secret: strings.Repeat("k", 32), Issuer: "test", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hashing, err := account.NewHashing(bcrypt.MinCost, 2)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := account.NewService(users, keys, notifier, hashing)
	if err != nil {
		t.Fatal(err)
	}
	return svc, keys
}
