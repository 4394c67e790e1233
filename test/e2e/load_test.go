package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
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
	resent    int // sent again on a fresh connection: the reused one was closed under it
}

func newLoad(gatewayURL, token string) *load {
	transport := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}
	return &load{url: gatewayURL + "/greeter/hello", token: token, client: &http.Client{Timeout: 10 * time.Second, Transport: transport}}
}

// hello sends one request and records it.
//
// A hello changes nothing, so the request carries an Idempotency-Key. Go's client then resends
// it, as browsers resend any request, when a kept-alive connection it reused fails before the
// first byte of the answer: nginx closes its idle client connections at every reload, and a
// request written into one at that moment is cut (EOF or reset). Without the key Go resends
// only requests it never wrote. Resends are counted and reported.
func (l *load) hello() {
	req, _ := http.NewRequest("POST", l.url, strings.NewReader(`{"name":"load"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.token)
	req.Header.Set("Idempotency-Key", rand.Text())
	var reused bool
	conns := 0
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused, conns = info.Reused, conns+1 },
	}))
	began := time.Now()
	rsp, err := l.client.Do(req)
	elapsed := time.Since(began)
	failure, degraded := "", false
	if err != nil {
		failure = fmt.Sprintf("%v (connection reused: %v)", err, reused)
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
	if conns > 1 {
		l.resent++
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
	t.Logf("%s: %d requests, %d failed, %d degraded, %d resent on a fresh connection, p50 %s, p99 %s, slowest %v",
		what, len(sorted), len(l.failures), l.degraded, l.resent, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), sorted[max(0, len(sorted)-5):])
	for i, f := range l.failures {
		if i == 5 {
			t.Logf("... and %d more", len(l.failures)-5)
			break
		}
		t.Logf("failure: %s", f)
	}
	return len(sorted), len(l.failures), l.degraded, p50, p99
}
