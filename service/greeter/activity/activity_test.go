package activity

import (
	"sync"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/events"
)

func TestCounter(t *testing.T) {
	c := NewCounter()
	c.Registered(events.UserEvent{UserID: 1})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.LoggedIn(events.UserEvent{UserID: 1}) }()
	}
	wg.Wait()
	c.Registered(events.UserEvent{UserID: 1}) // a late duplicate must not reset the count
	if c.Logins(1) != 50 || c.Logins(2) != 0 {
		t.Fatalf("logins %d %d", c.Logins(1), c.Logins(2))
	}
}
