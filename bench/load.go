package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
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
	// OKRPS counts only full answers (200, not degraded): what a target that sheds load served.
	OKRPS float64 `json:"ok_rps"`
	// Ratios of our full answers per second to the other targets', at this level (ours only).
	RatioToBareChain      float64 `json:"ratio_to_bare_chain,omitempty"`
	RatioToNetHTTP        float64 `json:"ratio_to_net_http,omitempty"`
	RatioToGoZero         float64 `json:"ratio_to_gozero,omitempty"`
	RatioToGoZeroDefaults float64 `json:"ratio_to_gozero_defaults,omitempty"`
	FirstError       string  `json:"first_error,omitempty"`
}

// drive sends hellos from conns keep-alive connections, each as fast as answers come, for d,
// and measures them; warm-up requests are sent but not counted. window is called when the
// measured window begins and returns what to call when it ends.
func drive(url, token string, conns int, warmup, d time.Duration, window func() func(*Result)) Result {
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	defer transport.CloseIdleConnections()
	body := `{"name":"bench"}`
	send := func() (time.Duration, string) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		began := time.Now()
		rsp, err := client.Do(req)
		if err != nil {
			return time.Since(began), err.Error()
		}
		answer, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		elapsed := time.Since(began)
		if rsp.StatusCode != 200 {
			return elapsed, rsp.Status
		}
		// A fallback's answer is a 200 too, but not the full path: count it as an error.
		if bytes.Contains(answer, []byte(`"degraded":true`)) {
			return elapsed, "degraded answer"
		}
		return elapsed, ""
	}

	run := func(ctx context.Context, record bool) ([]time.Duration, int, string) {
		var mu sync.Mutex
		var all []time.Duration
		errors, firstError := 0, ""
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, 4096)
				localErrors, localFirst := 0, ""
				for ctx.Err() == nil {
					elapsed, failure := send()
					if !record {
						continue
					}
					local = append(local, elapsed)
					if failure != "" {
						localErrors++
						if localFirst == "" {
							localFirst = failure
						}
					}
				}
				mu.Lock()
				all = append(all, local...)
				errors += localErrors
				if firstError == "" {
					firstError = localFirst
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all, errors, firstError
	}
	warm, cancel := context.WithTimeout(context.Background(), warmup)
	run(warm, false)
	cancel()
	end := window()
	measured, cancel := context.WithTimeout(context.Background(), d)
	began := time.Now()
	latencies, errors, firstError := run(measured, true)
	elapsed := time.Since(began)
	cancel()

	slices.Sort(latencies)
	at := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := min(len(latencies)-1, int(q*float64(len(latencies))))
		return float64(latencies[i].Microseconds()) / 1000
	}
	r := Result{Connections: conns, Requests: len(latencies), Errors: errors, RPS: float64(len(latencies)) / elapsed.Seconds(),
		OKRPS: float64(len(latencies)-errors) / elapsed.Seconds(),
		P50Ms: at(0.50), P90Ms: at(0.90), P99Ms: at(0.99), P999Ms: at(0.999), FirstError: firstError}
	end(&r)
	return r
}
