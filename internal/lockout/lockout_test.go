package lockout

import (
	"strconv"
	"testing"
	"time"
)

func TestLocksGrowAndEnd(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	l, err := New(Config{Failures: 2, Increment: 10 * time.Second, Max: 15 * time.Second, Reset: time.Hour}, 100, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		failures int
		want     time.Duration
	}{{1, 0}, {1, 10 * time.Second}, {2, 15 * time.Second}} {
		for range step.failures {
			l.Failed("alice")
		}
		if got := l.LockedFor("alice"); got != step.want {
			t.Fatalf("locked for %s, want %s", got, step.want)
		}
	}
	clock = clock.Add(15 * time.Second)
	if l.LockedFor("alice") != 0 {
		t.Fatal("still locked after the lock")
	}
	l.Succeeded("alice")
	l.Failed("alice")
	if l.LockedFor("alice") != 0 {
		t.Fatal("failures survived a success")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	l, err := New(Config{Failures: 1, Increment: time.Second, Max: time.Second, Reset: time.Hour}, 50, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		l.Failed("user" + strconv.Itoa(i))
	}
	if n := len(l.accounts); n > 50 {
		t.Fatalf("%d accounts tracked, limit 50", n)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{Failures: 0, Increment: time.Second, Max: time.Second, Reset: time.Hour},
		{Failures: 1, Increment: 0, Max: time.Second, Reset: time.Hour},
		{Failures: 1, Increment: time.Minute, Max: time.Second, Reset: time.Hour},
		{Failures: 1, Increment: time.Second, Max: time.Second, Reset: 0},
	} {
		if _, err := New(c, 10, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
