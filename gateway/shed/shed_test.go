package shed

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
	if s.Acquire() || s.Shed() != 1 {
		t.Fatalf("a fifth request in flight was admitted (shed %d)", s.Shed())
	}
	s.Release(time.Millisecond)
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
			s.Release(took)
			answered++
		}
	}
}

func TestLimitFollowsLatency(t *testing.T) {
	s := newShedder(t, 64)
	// Latency as usual while the limit is used: it grows.
	saturate(s, 20, 2*time.Millisecond)
	grown := s.Limit()
	if grown <= 64 {
		t.Fatalf("limit %d after steady latency at full use, want above 64", grown)
	}
	// A queue forms: answers ten times slower. It shrinks.
	saturate(s, 10, 20*time.Millisecond)
	if s.Limit() >= grown/2 {
		t.Fatalf("limit %d after latency rose tenfold, from %d", s.Limit(), grown)
	}
	if s.Limit() < 4 {
		t.Fatalf("limit %d below the minimum", s.Limit())
	}
}

func TestIdleWindowsKeepTheLimit(t *testing.T) {
	s := newShedder(t, 64)
	for i := 0; i < 50*windowSamples; i++ {
		s.Acquire()
		s.Release(time.Duration(1+i%7) * time.Millisecond)
	}
	if s.Limit() != 64 {
		t.Fatalf("one request at a time moved the limit to %d", s.Limit())
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
	s.Release(time.Millisecond)
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
	before := s.Limit()
	saturate(s, 500, 20*time.Millisecond)
	if s.Limit() > before/2 {
		t.Fatalf("limit %d after a long flood, from %d", s.Limit(), before)
	}
}
