// Package greeting holds the greeter's rules: which names may be greeted and what a hello says.
// The caller's profile comes through the Directory interface; go-micro is not known here.
package greeting

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Domain errors.
var (
	// ErrInvalidName: the name to greet breaks the name rule.
	ErrInvalidName = errors.New("name must be 1 to 64 printable characters")
	// ErrUnknownCaller: the token is valid but its account no longer exists.
	ErrUnknownCaller = errors.New("user not found")
	// ErrNotAuthenticated: the request carries no caller identity.
	ErrNotAuthenticated = errors.New("please login")
	// ErrDirectoryUnavailable: the user service could not answer (down, slow or cut off by its
	// breaker). This one is about health, unlike the others.
	ErrDirectoryUnavailable = errors.New("user service unavailable")
)

// MaxNameRunes is the longest name greeted.
const MaxNameRunes = 64

// Caller is the profile of whoever says hello.
type Caller struct {
	ID       uint64
	Username string
	// Degraded means the directory could not answer and the profile was rebuilt from the
	// caller's token: the name is right, nothing else is known.
	Degraded bool
}

// Directory looks up the caller of the current request.
type Directory interface {
	// Caller returns the profile of the request's caller, or ErrUnknownCaller,
	// ErrNotAuthenticated or ErrDirectoryUnavailable.
	Caller(ctx context.Context) (Caller, error)
}

// Activity counts what users did, as the greeter learns it from events.
type Activity interface {
	// Logins is how many logins of the user the greeter has seen.
	Logins(userID uint64) int64
}

// Hello is the answer to a hello.
type Hello struct {
	Caller         Caller
	Greeting       string
	SettingMessage string
	// Logins is the caller's login count (zero when degraded).
	Logins int64
}

// Greeter greets callers.
type Greeter struct {
	directory Directory
	activity  Activity
	message   func() string
}

// NewGreeter returns a greeter that looks callers up in directory, their logins up in activity,
// and adds message() to each answer (a function, so a refreshed setting shows without a restart).
func NewGreeter(directory Directory, activity Activity, message func() string) *Greeter {
	return &Greeter{directory: directory, activity: activity, message: message}
}

// ValidateName checks the name rule: 1 to 64 printable characters, no surrounding spaces.
func ValidateName(name string) error {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameRunes || strings.TrimSpace(name) != name {
		return ErrInvalidName
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return ErrInvalidName
		}
	}
	return nil
}

// Hello greets name on behalf of the request's caller.
func (g *Greeter) Hello(ctx context.Context, name string) (Hello, error) {
	if err := ValidateName(name); err != nil {
		return Hello{}, err
	}
	caller, err := g.directory.Caller(ctx)
	if err != nil {
		return Hello{}, fmt.Errorf("look up caller: %w", err)
	}
	hello := Hello{Caller: caller, Greeting: "Hello " + name, SettingMessage: g.message()}
	if !caller.Degraded {
		hello.Logins = g.activity.Logins(caller.ID)
	}
	return hello, nil
}
