package greeting

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fakeDirectory struct {
	caller Caller
	err    error
}

func (f fakeDirectory) Caller(context.Context) (Caller, error) { return f.caller, f.err }

type fakeActivity map[uint64]int64

func (f fakeActivity) Logins(id uint64) int64 { return f[id] }

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Bob", true},
		{"Zoë van der Berg", true},
		{"世界", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("é", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{" padded", false},
		{"tab\there", false},
		{"new\nline", false},
		{"nul\x00", false},
		{"\xff\xfe", false},
	} {
		if err := ValidateName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestHello(t *testing.T) {
	message := "from config"
	g := NewGreeter(fakeDirectory{caller: Caller{ID: 3, Username: "alice"}}, fakeActivity{3: 2}, func() string { return message })
	got, err := g.Hello(context.Background(), "Bob")
	if err != nil {
		t.Fatal(err)
	}
	want := Hello{Caller: Caller{ID: 3, Username: "alice"}, Greeting: "Hello Bob", SettingMessage: "from config", Logins: 2}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	message = "changed"
	if got, _ := g.Hello(context.Background(), "Bob"); got.SettingMessage != "changed" {
		t.Fatal("the message must be read on every hello")
	}
	degraded := NewGreeter(fakeDirectory{caller: Caller{ID: 3, Username: "alice", Degraded: true}}, fakeActivity{3: 2}, func() string { return message })
	if got, _ := degraded.Hello(context.Background(), "Bob"); got.Logins != 0 || !got.Caller.Degraded || got.Greeting != "Hello Bob" {
		t.Fatalf("degraded: %+v", got)
	}
}

func TestHelloErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		greet   string
		dirErr  error
		wantErr error
	}{
		{"bad name, directory not asked", "", ErrDirectoryUnavailable, ErrInvalidName},
		{"unknown caller", "Bob", ErrUnknownCaller, ErrUnknownCaller},
		{"no identity", "Bob", ErrNotAuthenticated, ErrNotAuthenticated},
		{"directory down", "Bob", ErrDirectoryUnavailable, ErrDirectoryUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGreeter(fakeDirectory{err: tc.dirErr}, fakeActivity{}, func() string { return "" })
			if _, err := g.Hello(context.Background(), tc.greet); !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}
