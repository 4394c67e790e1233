package shed

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newShedder(t *testing.T, initial int) *Shedder {
	t.Helper()
	s, err := New(Config{Enabled: true, InitialLimit: initial, MinLimit: 4, MaxLimit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{InitialLimit: 64, MinLimit: 8, MaxLimit: 1000}); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled: %v", err)
	}
	for _, c := range []Config{
		{Enabled: true, InitialLimit: 4, MinLimit: 8, MaxLimit: 100},
		{Enabled: true, InitialLimit: 64, MinLimit: 0, MaxLimit: 100},
		{Enabled: true, InitialLimit: 64, MinLimit: 8, MaxLimit: 32},
	} {
		if _, err := New(c); err == nil {
			t.Fatalf("%+v accepted", c)
		}
	}
}

func TestOverTheLimitIsRefused(t *testing.T) {
	s := newShedder(t, 4)
	for i := 0; i < 4; i++ {
		if !s.Acquire() {
			t.Fatalf("request %d of 4 refused", i+1)
		}
	}
	if s.Acquire() || s.shed.Load() != 1 {
		t.Fatalf("a fifth request in flight was admitted (shed %d)", s.shed.Load())
	}
	s.Release(time.Millisecond, true)
	if !s.Acquire() {
		t.Fatal("a request after one ended was refused")
	}
}

// saturate answers windows×windowSamples requests, keeping the limit full, each in took.
func saturate(s *Shedder, windows int, took time.Duration) {
	for answered := 0; answered < windows*windowSamples; {
		held := 0
		for s.Acquire() {
			held++
		}
		for ; held > 0; held-- {
			s.Release(took, true)
			answered++
		}
	}
}

func TestLimitFollowsLatency(t *testing.T) {
	s := newShedder(t, 64)
	// Latency as usual while the limit is used: it grows.
	saturate(s, 20, 2*time.Millisecond)
	grown := s.limit.Load()
	if grown <= 64 {
		t.Fatalf("limit %d after steady latency at full use, want above 64", grown)
	}
	// A queue forms: answers ten times slower. It shrinks.
	saturate(s, 10, 20*time.Millisecond)
	if s.limit.Load() >= grown/2 {
		t.Fatalf("limit %d after latency rose tenfold, from %d", s.limit.Load(), grown)
	}
	if s.limit.Load() < 4 {
		t.Fatalf("limit %d below the minimum", s.limit.Load())
	}
}

func TestIdleWindowsKeepTheLimit(t *testing.T) {
	s := newShedder(t, 64)
	for i := 0; i < 50*windowSamples; i++ {
		s.Acquire()
		s.Release(time.Duration(1+i%7)*time.Millisecond, true)
	}
	if s.limit.Load() != 64 {
		t.Fatalf("one request at a time moved the limit to %d", s.limit.Load())
	}
}

func TestMiddleware(t *testing.T) {
	s := newShedder(t, 4)
	release := make(chan struct{})
	calls := 0
	handler := Middleware(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusOK)
	}))
	for i := 0; i < 4; i++ {
		s.Acquire() // four requests in flight elsewhere
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("POST", "/greeter/hello", nil))
	close(release)
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 503 || body.Code != 503 || body.Reason != "OVERLOADED" || body.Message == "" {
		t.Fatalf("%d %s (%v)", rec.Code, rec.Body, err)
	}
	if rec.Header().Get("Retry-After") == "" || calls != 0 {
		t.Fatalf("Retry-After %q, handler called %d times", rec.Header().Get("Retry-After"), calls)
	}
	s.Release(time.Millisecond, true)
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("POST", "/greeter/hello", nil))
	if rec.Code != 200 || calls != 1 {
		t.Fatalf("under the limit: %d, %d calls", rec.Code, calls)
	}
	if Middleware(nil)(http.NotFoundHandler()) == nil {
		t.Fatal("no shedder must pass requests through")
	}
}

// TestSustainedOverloadKeepsTheLimitDown: latency that stays high does not become the usual
// one; the limit stays down for as long as the flood lasts.
func TestSustainedOverloadKeepsTheLimitDown(t *testing.T) {
	s := newShedder(t, 64)
	saturate(s, 20, 2*time.Millisecond)
	before := s.limit.Load()
	saturate(s, 500, 20*time.Millisecond)
	if s.limit.Load() > before/2 {
		t.Fatalf("limit %d after a long flood, from %d", s.limit.Load(), before)
	}
}

// windows releases n whole windows of samples, each took long, one request at a time.
func windows(s *Shedder, n int, took time.Duration) {
	for range n * windowSamples {
		s.Acquire()
		s.Release(took, true)
	}
}

// TestQueueLatencyNeverBecomesTheUsual: while answers are slower than the tolerance allows (a
// queue is forming), the long-term average does not move up at all.
func TestQueueLatencyNeverBecomesTheUsual(t *testing.T) {
	s := newShedder(t, 64)
	windows(s, 5, 2*time.Millisecond)
	before := s.long
	windows(s, 50, 4*time.Millisecond) // 2× the usual: over the tolerance of 1.5
	if s.long != before {
		t.Fatalf("the long-term average moved from %.0f to %.0f ns under queueing latency", before, s.long)
	}
}

// TestUsualLatencyRisesSlowly: answers a little slower than usual, within the tolerance, raise
// the long-term average by a tenth of the usual rate (1/600 of the gap a window), so that
// a slow climb cannot drag it up with it.
func TestUsualLatencyRisesSlowly(t *testing.T) {
	s := newShedder(t, 64)
	windows(s, 5, 2*time.Millisecond)
	long := s.long
	const n = 30
	windows(s, n, 2500*time.Microsecond)
	want := long
	for range n {
		want += (2.5e6 - want) / (10 * longWindows)
	}
	if diff := math.Abs(s.long - want); diff > 1 {
		t.Fatalf("long-term average %.0f ns after %d windows at 2.5 ms, want %.0f", s.long, n, want)
	}
}

// TestRejectedAnswersTeachNothing: a flood of fast refusals (401s) leaves the latency averages
// and the limit as they were, so real work afterwards is not shed.
func TestRejectedAnswersTeachNothing(t *testing.T) {
	s := newShedder(t, 64)
	windows(s, 5, 2*time.Millisecond)
	long, limit := s.long, s.limit.Load()
	for range 100_000 {
		if s.Acquire() {
			s.Release(50*time.Microsecond, false)
		}
	}
	if s.long != long || s.limit.Load() != limit {
		t.Fatalf("after 100,000 refusals: long-term average %.0f → %.0f ns, limit %d → %d", long, s.long, limit, s.limit.Load())
	}
	handler := Middleware(s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for range 10 * windowSamples {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/greeter/hello", nil))
	}
	if s.long != long {
		t.Fatalf("401 answers through the middleware moved the long-term average %.0f → %.0f ns", long, s.long)
	}
}

// TestAPauseStartsAfresh: after idleReset with nothing in flight the limit is the initial one
// again and the averages are learnt anew.
func TestAPauseStartsAfresh(t *testing.T) {
	s := newShedder(t, 64)
	saturate(s, 5, 2*time.Millisecond)
	saturate(s, 30, 20*time.Millisecond) // a flood pulled the limit down
	if s.limit.Load() >= 64 {
		t.Fatalf("limit %d after the flood", s.limit.Load())
	}
	s.idleFrom.Store(time.Now().Add(-idleReset - time.Second).UnixNano())
	if !s.Acquire() {
		t.Fatal("refused after a pause")
	}
	s.Release(time.Millisecond, true)
	if s.limit.Load() != 64 || s.long != 0 {
		t.Fatalf("after a pause: limit %d, long-term average %.0f ns; want 64 and forgotten", s.limit.Load(), s.long)
	}
	// A short gap is no pause.
	saturate(s, 30, 20*time.Millisecond)
	low := s.limit.Load()
	s.idleFrom.Store(time.Now().Add(-time.Second).UnixNano())
	s.Acquire()
	s.Release(20*time.Millisecond, true)
	if s.limit.Load() != low {
		t.Fatalf("a one-second gap moved the limit %d → %d", low, s.limit.Load())
	}
}

// TestMetrics: a scrape reads the limit, what is in flight and what was shed, as they are.
func TestMetrics(t *testing.T) {
	s, err := New(Config{Enabled: true, InitialLimit: 2, MinLimit: 1, MaxLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(s)
	s.Acquire()
	s.Acquire()
	s.Acquire() // over the limit: shed
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	want := map[string]float64{"gomicro_gateway_shed_limit": 2, "gomicro_gateway_shed_inflight": 2, "gomicro_gateway_shed_total": 1}
	if !maps.Equal(got, want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}
