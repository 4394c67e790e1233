package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// TestGatewayShedsLoad: with the load shedder on and a limit of two requests in flight, a burst
// of hellos is answered 200 or, at once, 503 with Retry-After and reason OVERLOADED; nothing
// else, and a hello after the burst goes through.
func TestGatewayShedsLoad(t *testing.T) {
	s := ownStack(t, stack.Config{Env: []string{
		"SHEDDING_ENABLED=true", "SHEDDING_MIN_LIMIT=1", "SHEDDING_INITIAL_LIMIT=2", "SHEDDING_MAX_LIMIT=2",
	}})
	c := newClient(t, s.GatewayURL)
	token := c.signup("shed_e2e")
	answers := newTally()
	var refused answer
	for deadline := time.Now().Add(20 * time.Second); refused.Status == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no request refused in bursts of 40 with a limit of 2: %s", answers)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				a := c.hello(token, "Ada")
				mu.Lock()
				defer mu.Unlock()
				answers.add(a.Status, time.Since(t0))
				switch a.Status {
				case 200:
				case 503:
					refused = a
				default:
					t.Errorf("a hello in the burst: %d %s", a.Status, a.Raw)
				}
			}()
		}
		wg.Wait()
	}
	t.Logf("bursts of 40 hellos, limit 2: %s", answers)
	if refused.Code() != 503 || refused.Body["reason"] != "OVERLOADED" || refused.Body["message"] == "" || refused.Header.Get("Retry-After") == "" {
		t.Fatalf("a shed request: %s, Retry-After %q", refused.Raw, refused.Header.Get("Retry-After"))
	}
	if a := c.hello(token, "Ada"); a.Status != 200 {
		t.Fatalf("a hello after the burst: %d %s", a.Status, a.Raw)
	}
}
