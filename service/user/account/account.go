// Package account holds the user service's rules: what a valid username and password are, how
// accounts are created, how a login is checked and a token issued. It knows nothing of go-micro
// or SQL; persistence comes through the Store interface declared here.
package account

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/lockout"
)

// Domain errors. None of them says anything about the service's health, so none should count
// against a circuit breaker.
var (
	// ErrUsernameTaken: another account already has the username, in any case.
	ErrUsernameTaken = errors.New("username is already taken")
	// ErrBadCredentials: unknown user or wrong password; the two are deliberately one answer.
	ErrBadCredentials = errors.New("wrong username or password")
	// ErrNotFound: no account has the id.
	ErrNotFound = errors.New("user not found")
	// ErrKeyReused: an Idempotency-Key came back with a different request than its first.
	ErrKeyReused = errors.New("this Idempotency-Key was used for a different request")
	// ErrKeyTaken: the store already holds the Idempotency-Key (a concurrent retry won).
	ErrKeyTaken = errors.New("idempotency key already used")
)

// LockedError: the account is locked after too many wrong passwords; no password is checked
// until RetryAfter has passed.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many wrong passwords for this account; try again in %s", e.RetryAfter.Round(time.Second))
}

// InvalidInputError says which field of a request breaks which rule.
type InvalidInputError struct {
	Field  string
	Reason string
}

func (e *InvalidInputError) Error() string { return e.Field + " " + e.Reason }

// User is an account. PasswordHash never leaves the user service.
type User struct {
	ID           uint64
	Username     string
	PasswordHash []byte
	CreatedAt    time.Time
}

// Store persists accounts.
type Store interface {
	// Create inserts u, filling its ID and CreatedAt; ErrUsernameTaken if an account has the
	// same username in any case. A non-empty idempotencyKey is saved with the account in one
	// transaction (ErrKeyTaken if it exists), so that a retry finds what the first try did,
	// even when the first answer was lost.
	Create(ctx context.Context, u *User, idempotencyKey string) error
	// ByUsername loads an account by username: the exact spelling, else the one whose
	// canonical form (Canonical) matches; ErrNotFound if there is none.
	ByUsername(ctx context.Context, username string) (User, error)
	// ByID loads an account; ErrNotFound if there is none.
	ByID(ctx context.Context, id uint64) (User, error)
	// ByIdempotencyKey loads the account that a registration with key created; ErrNotFound if
	// none did (or the key has expired).
	ByIdempotencyKey(ctx context.Context, key string) (User, error)
}

// Canonical is the form in which usernames are unique: Alice, ALICE and alice are one
// account. Usernames are ASCII (see ValidateUsername), so lower case is enough.
func Canonical(username string) string { return strings.ToLower(username) }

// Notifier hears of what happened to accounts. It must neither block nor fail: telling others
// is news, not a step of the use case, so a broker outage never fails a login. (The gateways
// and other instances read revocations from the store; the news only makes them look now.)
type Notifier interface {
	UserRegistered(id uint64, username string)
	UserLoggedIn(id uint64, username string)
	// TokensRevoked: some of the user's tokens were revoked.
	TokensRevoked(id uint64)
	// UserDeleted: the account is gone; caches must forget it.
	UserDeleted(id uint64)
}

// nobody is the Notifier of a service that tells no one.
type nobody struct{}

func (nobody) UserRegistered(uint64, string) {}
func (nobody) UserLoggedIn(uint64, string)   {}
func (nobody) TokensRevoked(uint64)          {}
func (nobody) UserDeleted(uint64)            {}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	Issue(auth.Identity) (auth.Issued, error)
	// TTL is the lifetime of the tokens Issue signs.
	TTL() time.Duration
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,32}$`)

// Password length limits in bytes; bcrypt ignores everything past 72 bytes, so we refuse it.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// ValidateUsername checks the username rule: 3 to 32 of A-Z a-z 0-9 _ . -
func ValidateUsername(username string) error {
	if !usernamePattern.MatchString(username) {
		return &InvalidInputError{Field: "username", Reason: "must be 3 to 32 characters of A-Z, a-z, 0-9, '_', '.', '-'"}
	}
	return nil
}

// ValidatePassword checks the password rule: 8 to 72 bytes.
func ValidatePassword(password string) error {
	if n := len(password); n < MinPasswordBytes || n > MaxPasswordBytes {
		return &InvalidInputError{Field: "password", Reason: fmt.Sprintf("must be %d to %d bytes", MinPasswordBytes, MaxPasswordBytes)}
	}
	return nil
}

// ValidateIdempotencyKey checks an Idempotency-Key: 1 to 255 printable ASCII characters.
func ValidateIdempotencyKey(key string) error {
	if len(key) == 0 || len(key) > 255 {
		return &InvalidInputError{Field: "Idempotency-Key", Reason: "must be 1 to 255 characters"}
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return &InvalidInputError{Field: "Idempotency-Key", Reason: "must be printable ASCII without spaces"}
		}
	}
	return nil
}

// Service carries out the account use cases.
type Service struct {
	store      Store
	sessions   SessionStore
	tokens     TokenIssuer
	notifier   Notifier
	hashing    *Hashing
	lockout    *lockout.Lockout
	refreshTTL time.Duration
	decoyHash  []byte
	now        func() time.Time
}

// Deps are what the use cases work with.
type Deps struct {
	// Store keeps accounts, Sessions refresh tokens and revocations.
	Store    Store
	Sessions SessionStore
	// Tokens signs access tokens.
	Tokens TokenIssuer
	// Notifier hears of registrations, logins, revocations and deletions (nil: no one does).
	Notifier Notifier
	// Hashing hashes and checks passwords.
	Hashing *Hashing
	// Lockout locks an account after wrong passwords, for callers that reach the service
	// without a gateway (whose limits lock too); nil: none here.
	Lockout *lockout.Lockout
	// RefreshTTL is how long a refresh token stays usable.
	RefreshTTL time.Duration
}

// NewService returns the use cases over d.
func NewService(d Deps) (*Service, error) {
	if d.RefreshTTL <= 0 {
		return nil, fmt.Errorf("jwt.refresh_ttl %s must be positive", d.RefreshTTL)
	}
	// A login for an unknown user still compares against a hash, so that timing does not tell
	// which usernames exist.
	decoy, err := d.Hashing.Hash(context.Background(), "decoy password, never matches")
	if err != nil {
		return nil, fmt.Errorf("prepare decoy hash: %w", err)
	}
	if d.Notifier == nil {
		d.Notifier = nobody{}
	}
	return &Service{store: d.Store, sessions: d.Sessions, tokens: d.Tokens, notifier: d.Notifier, hashing: d.Hashing,
		lockout: d.Lockout, refreshTTL: d.RefreshTTL, decoyHash: decoy, now: time.Now}, nil
}

// checkPassword says whether password is the account's, counting wrong ones towards its lock
// (by its canonical name, as the gateway's); a locked account's password is not checked at
// all: a LockedError.
func (s *Service) checkPassword(ctx context.Context, name string, hash []byte, password string) (bool, error) {
	name = Canonical(name)
	if s.lockout != nil {
		if wait := s.lockout.LockedFor(name); wait > 0 {
			return false, &LockedError{RetryAfter: wait}
		}
	}
	match, err := s.hashing.Matches(ctx, hash, password)
	if err != nil || s.lockout == nil {
		return match, err
	}
	if match {
		s.lockout.Succeeded(name)
	} else {
		s.lockout.Failed(name)
	}
	return match, nil
}

// Registration is the outcome of Register.
type Registration struct {
	User
	// Replayed says the account was created by an earlier request with the same
	// Idempotency-Key, whose answer this repeats.
	Replayed bool
}

// Register creates an account. With an idempotency key (may be empty), a retry of a
// registration that succeeded (even one whose answer was lost) gets the same account back
// instead of ErrUsernameTaken, provided it carries the same username and password.
func (s *Service) Register(ctx context.Context, username, password, idempotencyKey string) (Registration, error) {
	if err := ValidateUsername(username); err != nil {
		return Registration{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return Registration{}, err
	}
	if idempotencyKey != "" {
		if err := ValidateIdempotencyKey(idempotencyKey); err != nil {
			return Registration{}, err
		}
		if r, err := s.replay(ctx, username, password, idempotencyKey); !errors.Is(err, ErrNotFound) {
			return r, err
		}
	}
	hash, err := s.hashing.Hash(ctx, password)
	if err != nil {
		return Registration{}, fmt.Errorf("hash password for %s: %w", username, err)
	}
	u := User{Username: username, PasswordHash: hash}
	err = s.store.Create(ctx, &u, idempotencyKey)
	if errors.Is(err, ErrKeyTaken) {
		// A retry with the same key ran beside this one and won: answer as it did.
		return s.replay(ctx, username, password, idempotencyKey)
	}
	if err != nil {
		return Registration{}, fmt.Errorf("register %s: %w", username, err)
	}
	s.notifier.UserRegistered(u.ID, u.Username)
	return Registration{User: u}, nil
}

// replay answers a registration whose key is known: the account it created, if this request
// is the same one (same username, and a password that matches; checking costs a hash, as the
// first try did). ErrNotFound when the key is new.
func (s *Service) replay(ctx context.Context, username, password, key string) (Registration, error) {
	u, err := s.store.ByIdempotencyKey(ctx, key)
	if err != nil {
		return Registration{}, err
	}
	if Canonical(u.Username) != Canonical(username) {
		return Registration{}, ErrKeyReused
	}
	match, err := s.hashing.Matches(ctx, u.PasswordHash, password)
	if err != nil {
		return Registration{}, fmt.Errorf("replay registration of %s: %w", username, err)
	}
	if !match {
		return Registration{}, ErrKeyReused
	}
	return Registration{User: u, Replayed: true}, nil
}

// Login checks the credentials and begins a session: an access token and a refresh token.
func (s *Service) Login(ctx context.Context, username, password string) (Tokens, User, error) {
	// Malformed input cannot name a real account: answer like a wrong password, but still
	// report missing fields, which are a client bug rather than a guess.
	if username == "" || password == "" {
		return Tokens{}, User{}, &InvalidInputError{Field: "username and password", Reason: "are required"}
	}
	// bcrypt reads only 72 bytes: a longer password would match its first 72.
	if len(password) > MaxPasswordBytes {
		return Tokens{}, User{}, &InvalidInputError{Field: "password", Reason: fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)}
	}
	u, err := s.store.ByUsername(ctx, username)
	if errors.Is(err, ErrNotFound) {
		// An unknown name locks as a known one would: the lock tells nothing either.
		if _, err := s.checkPassword(ctx, username, s.decoyHash, password); err != nil {
			return Tokens{}, User{}, lockedOr(err, "login "+username)
		}
		return Tokens{}, User{}, ErrBadCredentials
	}
	if err != nil {
		return Tokens{}, User{}, fmt.Errorf("login %s: %w", username, err)
	}
	match, err := s.checkPassword(ctx, username, u.PasswordHash, password)
	if err != nil {
		return Tokens{}, User{}, lockedOr(err, "login "+username)
	}
	if !match {
		return Tokens{}, User{}, ErrBadCredentials
	}
	tokens, err := s.startSession(ctx, u)
	if err != nil {
		return Tokens{}, User{}, fmt.Errorf("login %s: %w", username, err)
	}
	s.notifier.UserLoggedIn(u.ID, u.Username)
	return tokens, u, nil
}

// lockedOr is err as it is when the account is locked, else wrapped with what failed.
func lockedOr(err error, what string) error {
	var locked *LockedError
	if errors.As(err, &locked) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Profile loads the account with the id.
func (s *Service) Profile(ctx context.Context, id uint64) (User, error) {
	u, err := s.store.ByID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, nil
}
