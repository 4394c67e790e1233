package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// load sends hellos at a steady rate from background goroutines and records every answer.
type load struct {
	url, token string
	client     *http.Client

	mu        sync.Mutex
	latencies []time.Duration
	failures  []string // anything but 200 with a full (not degraded) answer
	degraded  int
}

func newLoad(gatewayURL, token string) *load {
	transport := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}
	return &load{url: gatewayURL + "/greeter/hello", token: token, client: &http.Client{Timeout: 10 * time.Second, Transport: transport}}
}

// hello sends one request and records it.
func (l *load) hello() {
	req, _ := http.NewRequest("POST", l.url, strings.NewReader(`{"name":"load"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.token)
	began := time.Now()
	rsp, err := l.client.Do(req)
	elapsed := time.Since(began)
	failure, degraded := "", false
	if err != nil {
		failure = err.Error()
	} else {
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		var answer struct {
			Degraded bool `json:"degraded"`
		}
		json.Unmarshal(body, &answer)
		degraded = answer.Degraded
		if rsp.StatusCode != 200 {
			failure = fmt.Sprintf("%d %s", rsp.StatusCode, body)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latencies = append(l.latencies, elapsed)
	if degraded {
		l.degraded++
	}
	if failure != "" {
		l.failures = append(l.failures, failure)
	}
}

// run sends rate requests a second for d, each in its own goroutine, and returns when all have
// been answered. event, if set, is called once, at the given offset, and waited for.
func (l *load) run(rate int, d time.Duration, at time.Duration, event func()) {
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	began := time.Now()
	fired := event == nil
	for i := 0; time.Since(began) < d; i++ {
		if !fired && time.Since(began) >= at {
			fired = true
			wg.Add(1)
			go func() { defer wg.Done(); event() }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); l.hello() }()
		if wait := time.Until(began.Add(time.Duration(i+1) * interval)); wait > 0 {
			time.Sleep(wait) // pacing the load, not synchronising with the system under test
		}
	}
	wg.Wait()
}

// report returns the figures and logs them.
func (l *load) report(t *testing.T, what string) (sent, failed, degraded int, p50, p99 time.Duration) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	sorted := slices.Clone(l.latencies)
	slices.Sort(sorted)
	if len(sorted) > 0 {
		p50, p99 = sorted[len(sorted)/2], sorted[len(sorted)*99/100]
	}
	t.Logf("%s: %d requests, %d failed, %d degraded, p50 %s, p99 %s, slowest %v", what, len(sorted), len(l.failures), l.degraded,
		p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), sorted[max(0, len(sorted)-5):])
	for i, f := range l.failures {
		if i == 5 {
			t.Logf("... and %d more", len(l.failures)-5)
			break
		}
		t.Logf("failure: %s", f)
	}
	return len(sorted), len(l.failures), l.degraded, p50, p99
}
