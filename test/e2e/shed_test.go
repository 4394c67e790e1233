package e2e

import (
	"io"
	"net/http"
	"strings"
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
	// The gateway's metrics say what the shedder did.
	for metric, atLeast := range map[string]float64{"gomicro_gateway_shed_total": 1, "gomicro_gateway_shed_limit": 1} {
		got, err := stack.MetricSum(http.DefaultClient, []string{s.GatewayMetricsURL}, metric)
		if err != nil || got < atLeast {
			t.Fatalf("%s: %v, %v; want at least %v", metric, got, err, atLeast)
		}
	}
}

// TestShedderLearnsOnlyFromRealWork: a flood of fast 401s (hellos without a token) teaches the
// shedder nothing, so 40 well-behaved clients right after it are not shed (at most 5 %), and
// after a pause none are. (Before, the flood pulled the usual latency down for good and 82 %
// of such clients were shed, 30 s later too.)
func TestShedderLearnsOnlyFromRealWork(t *testing.T) {
	s := ownStack(t, stack.Config{Env: []string{"SHEDDING_ENABLED=true"}})
	c := newClient(t, s.GatewayURL)
	token := c.signup("unpoisoned_e2e")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	hello := func(bearer string) int {
		req, _ := http.NewRequest("POST", s.GatewayURL+"/greeter/hello", strings.NewReader(`{"name":"Ada"}`))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		rsp, err := hc.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		return rsp.StatusCode
	}
	// clients runs n clients sending hellos one after another for d, and counts the answers.
	clients := func(n int, d time.Duration, bearer string) *tally {
		answers := newTally()
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					t0 := time.Now()
					answers.add(hello(bearer), time.Since(t0))
				}
			}()
		}
		wg.Wait()
		return answers
	}
	shedShare := func(a *tally) float64 {
		total := 0
		for _, n := range []int{0, 200, 503} {
			total += a.count(n)
		}
		return float64(a.count(503)) / float64(max(total, 1))
	}
	flood := clients(16, 6*time.Second, "")
	t.Logf("a flood of hellos without a token, 16 connections for 6 s: %s", flood)
	if flood.count(401) < 1000 {
		t.Fatalf("the flood was too small to tell anything: %s", flood)
	}
	after := clients(40, 5*time.Second, token)
	t.Logf("40 clients right after the flood: %s; shed %.1f %%", after, 100*shedShare(after))
	if shedShare(after) > 0.05 || after.count(200) == 0 {
		t.Fatalf("%.1f %% of real requests shed after a flood of 401s, want at most 5 %%", 100*shedShare(after))
	}
	// A pause longer than the shedder's idle reset (5 s), then the same load again.
	time.Sleep(6 * time.Second)
	rested := clients(40, 3*time.Second, token)
	t.Logf("40 clients after a 6 s pause: %s; shed %.1f %%", rested, 100*shedShare(rested))
	if rested.count(503) > 0 {
		t.Fatalf("%d requests shed after a pause", rested.count(503))
	}
}
