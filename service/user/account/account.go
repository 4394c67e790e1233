// Package account holds the user service's rules: what a valid username and password are, how
// accounts are created, how a login is checked and a token issued. It knows nothing of go-micro
// or SQL; persistence comes through the Store interface declared here.
package account

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
)

// Domain errors. None of them says anything about the service's health, so none should count
// against a circuit breaker.
var (
	// ErrUsernameTaken: another account already has the username.
	ErrUsernameTaken = errors.New("username is already taken")
	// ErrBadCredentials: unknown user or wrong password; the two are deliberately one answer.
	ErrBadCredentials = errors.New("wrong username or password")
	// ErrNotFound: no account has the id.
	ErrNotFound = errors.New("user not found")
)

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
	// Create inserts u, filling its ID and CreatedAt; ErrUsernameTaken if the name exists.
	Create(ctx context.Context, u *User) error
	// ByUsername loads an account by its exact username; ErrNotFound if there is none.
	ByUsername(ctx context.Context, username string) (User, error)
	// ByID loads an account; ErrNotFound if there is none.
	ByID(ctx context.Context, id uint64) (User, error)
}

// Notifier hears of what happened to accounts. It must neither block nor fail: telling others
// is news, not a step of the use case, so a broker outage never fails a login.
type Notifier interface {
	UserRegistered(id uint64, username string)
	UserLoggedIn(id uint64, username string)
}

// Silent is a Notifier that tells no one.
type Silent struct{}

// UserRegistered does nothing.
func (Silent) UserRegistered(uint64, string) {}

// UserLoggedIn does nothing.
func (Silent) UserLoggedIn(uint64, string) {}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	Issue(auth.Identity) (string, error)
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

// Service carries out the account use cases.
type Service struct {
	store     Store
	tokens    TokenIssuer
	notifier  Notifier
	hashCost  int
	decoyHash []byte
}

// NewService returns the use cases over store, signing tokens with tokens and telling notifier
// of registrations and logins. hashCost is the bcrypt cost (bcrypt.DefaultCost in production;
// bcrypt.MinCost keeps tests fast).
func NewService(store Store, tokens TokenIssuer, notifier Notifier, hashCost int) (*Service, error) {
	// A login for an unknown user still compares against a hash, so that timing does not tell
	// which usernames exist.
	decoy, err := bcrypt.GenerateFromPassword([]byte("decoy password, never matches"), hashCost)
	if err != nil {
		return nil, fmt.Errorf("prepare decoy hash: %w", err)
	}
	return &Service{store: store, tokens: tokens, notifier: notifier, hashCost: hashCost, decoyHash: decoy}, nil
}

// Register creates an account.
func (s *Service) Register(ctx context.Context, username, password string) (User, error) {
	if err := ValidateUsername(username); err != nil {
		return User{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.hashCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password for %s: %w", username, err)
	}
	u := User{Username: username, PasswordHash: hash}
	if err := s.store.Create(ctx, &u); err != nil {
		return User{}, fmt.Errorf("register %s: %w", username, err)
	}
	s.notifier.UserRegistered(u.ID, u.Username)
	return u, nil
}

// Login checks the credentials and returns a signed token for the account.
func (s *Service) Login(ctx context.Context, username, password string) (string, User, error) {
	// Malformed input cannot name a real account: answer like a wrong password, but still
	// report missing fields, which are a client bug rather than a guess.
	if username == "" || password == "" {
		return "", User{}, &InvalidInputError{Field: "username and password", Reason: "are required"}
	}
	u, err := s.store.ByUsername(ctx, username)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.decoyHash, []byte(password))
		return "", User{}, ErrBadCredentials
	}
	if err != nil {
		return "", User{}, fmt.Errorf("login %s: %w", username, err)
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		return "", User{}, ErrBadCredentials
	}
	token, err := s.tokens.Issue(auth.Identity{UserID: u.ID, Username: u.Username})
	if err != nil {
		return "", User{}, fmt.Errorf("login %s: %w", username, err)
	}
	s.notifier.UserLoggedIn(u.ID, u.Username)
	return token, u, nil
}

// Profile loads the account with the id.
func (s *Service) Profile(ctx context.Context, id uint64) (User, error) {
	u, err := s.store.ByID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, nil
}
