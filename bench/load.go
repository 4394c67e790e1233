package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is what one load level measured against one target.
type Result struct {
	Connections int     `json:"connections"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	RPS         float64 `json:"rps"`
	P50Ms       float64 `json:"p50_ms"`
	P90Ms       float64 `json:"p90_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	// Processes are the target's processes: CPU seconds used during the measured window and
	// peak resident memory.
	Processes []ProcessUse `json:"processes"`
	// OKRPS counts only full answers (200, not degraded): what a target that sheds load served;
	// OKP99Ms is the p99 latency of those.
	OKRPS   float64 `json:"ok_rps"`
	OKP99Ms float64 `json:"ok_p99_ms"`
	// Ratios of our full answers per second to the other targets', at this level (ours only).
	RatioToBareChain      float64 `json:"ratio_to_bare_chain,omitempty"`
	RatioToNetHTTP        float64 `json:"ratio_to_net_http,omitempty"`
	RatioToGoZero         float64 `json:"ratio_to_gozero,omitempty"`
	RatioToGoZeroDefaults float64 `json:"ratio_to_gozero_defaults,omitempty"`
	FirstError            string  `json:"first_error,omitempty"`
	// CPUPerRequestUs is the CPU the target's processes spent per full answer, summed.
	CPUPerRequestUs float64 `json:"cpu_per_request_us"`
	// Rounds is how many rounds the figures are the medians of (0: one measurement), and the
	// spreads their lowest and highest.
	Rounds              int    `json:"rounds,omitempty"`
	OKRPSSpread         Spread `json:"ok_rps_spread"`
	P99Spread           Spread `json:"p99_spread"`
	CPUPerRequestSpread Spread `json:"cpu_per_request_spread"`
}

// drive sends hellos from conns keep-alive connections, each as fast as answers come, for d,
// and measures them; warm-up requests are sent but not counted. window is called when the
// measured window begins and returns what to call when it ends. With politely, a connection
// answered 503 with Retry-After waits that long (within the window) before its next request,
// as a well-behaved client does; otherwise it sends at once.
func drive(url, token string, conns int, warmup, d time.Duration, politely bool, window func() func(*Result)) Result {
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	defer transport.CloseIdleConnections()
	body := `{"name":"bench"}`
	// send returns the request's latency, what went wrong ("" for a full answer), and how long
	// the server asked to wait before the next one.
	send := func() (time.Duration, string, time.Duration) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		began := time.Now()
		rsp, err := client.Do(req)
		if err != nil {
			return time.Since(began), err.Error(), 0
		}
		answer, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		elapsed := time.Since(began)
		if rsp.StatusCode != 200 {
			wait := time.Duration(0)
			if seconds, err := strconv.Atoi(rsp.Header.Get("Retry-After")); err == nil && rsp.StatusCode == http.StatusServiceUnavailable {
				wait = time.Duration(seconds) * time.Second
			}
			return elapsed, rsp.Status, wait
		}
		// A fallback's answer is a 200 too, but not the full path: count it as an error.
		if bytes.Contains(answer, []byte(`"degraded":true`)) {
			return elapsed, "degraded answer", 0
		}
		return elapsed, "", 0
	}

	// run returns the latencies of every answer and of the full ones, and the first failure.
	run := func(ctx context.Context, record bool) ([]time.Duration, []time.Duration, string) {
		var mu sync.Mutex
		var all, ok []time.Duration
		firstError := ""
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local, localOK := make([]time.Duration, 0, 4096), make([]time.Duration, 0, 4096)
				localFirst := ""
				for ctx.Err() == nil {
					elapsed, failure, wait := send()
					if politely && wait > 0 {
						pause := time.NewTimer(wait)
						select {
						case <-ctx.Done():
						case <-pause.C:
						}
						pause.Stop()
					}
					if !record {
						continue
					}
					local = append(local, elapsed)
					if failure == "" {
						localOK = append(localOK, elapsed)
					} else if localFirst == "" {
						localFirst = failure
					}
				}
				mu.Lock()
				all, ok = append(all, local...), append(ok, localOK...)
				if firstError == "" {
					firstError = localFirst
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all, ok, firstError
	}
	warm, cancel := context.WithTimeout(context.Background(), warmup)
	run(warm, false)
	cancel()
	end := window()
	measured, cancel := context.WithTimeout(context.Background(), d)
	began := time.Now()
	latencies, okLatencies, firstError := run(measured, true)
	elapsed := time.Since(began)
	cancel()

	at := func(sorted []time.Duration, q float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		i := min(len(sorted)-1, int(q*float64(len(sorted))))
		return float64(sorted[i].Microseconds()) / 1000
	}
	slices.Sort(latencies)
	slices.Sort(okLatencies)
	r := Result{Connections: conns, Requests: len(latencies), Errors: len(latencies) - len(okLatencies),
		RPS: float64(len(latencies)) / elapsed.Seconds(), OKRPS: float64(len(okLatencies)) / elapsed.Seconds(),
		P50Ms: at(latencies, 0.50), P90Ms: at(latencies, 0.90), P99Ms: at(latencies, 0.99), P999Ms: at(latencies, 0.999),
		OKP99Ms: at(okLatencies, 0.99), FirstError: firstError}
	end(&r)
	// CPU per full answer: what each process spent for one, and their sum.
	for i := range r.Processes {
		if n := len(okLatencies); n > 0 {
			r.Processes[i].CPUPerRequestUs = r.Processes[i].CPUSeconds / float64(n) * 1e6
			r.CPUPerRequestUs += r.Processes[i].CPUPerRequestUs
		}
	}
	return r
}
