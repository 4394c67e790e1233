// Package shed is the gateway's load shedder: an adaptive limit on the requests in flight that
// answers the ones over it at once with 503, Retry-After and reason OVERLOADED, instead of
// letting every request queue and every latency grow.
//
// The limit follows latency as Netflix's concurrency-limits Gradient2 does: a long-term
// average of request latency stands for the system unloaded, a short-term one for now; while
// now is slower than usual (a queue is forming) the limit shrinks by their ratio, and it grows
// again by a headroom of √limit while latency stays at its usual level. It only moves on
// windows where the limit was actually used, so an idle gateway keeps its limit.
//
// It learns only from real work, as go-zero's adaptive shedder records a latency only for a
// request it admitted and that was served: an answer that refused the request (a 4xx: no
// token, bad input, too many requests) or failed (a 5xx) never moves the latency averages,
// so a flood of cheap rejected requests cannot teach it that the usual latency is lower than
// real work takes. And after a pause (nothing in flight for idleReset) it starts afresh.
package shed

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Config are the shedder's settings.
type Config struct {
	Enabled      bool `mapstructure:"enabled" usage:"shed load: answer 503 with Retry-After, at once, to requests over an adaptive limit on those in flight (off: every request waits its turn)"`
	InitialLimit int  `mapstructure:"initial_limit" default:"64" usage:"requests in flight allowed at start, before latency has been seen"`
	MinLimit     int  `mapstructure:"min_limit" default:"8" usage:"the limit never goes below this"`
	MaxLimit     int  `mapstructure:"max_limit" default:"1000" usage:"the limit never goes above this"`
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.MinLimit < 1 || c.MaxLimit < c.MinLimit || c.InitialLimit < c.MinLimit || c.InitialLimit > c.MaxLimit {
		return fmt.Errorf("shedding: want 1 ≤ min_limit (%d) ≤ initial_limit (%d) ≤ max_limit (%d)", c.MinLimit, c.InitialLimit, c.MaxLimit)
	}
	return nil
}

// Shedder admits requests while fewer than its limit are in flight.
type Shedder struct {
	cfg      Config
	inflight atomic.Int64
	limit    atomic.Int64
	shed     atomic.Int64 // requests refused, ever
	idleFrom atomic.Int64 // when the last request in flight ended (unix ns), 0 while busy

	mu sync.Mutex
	// A window is a batch of samples; at its end the limit is recomputed.
	samples     int
	sum         time.Duration
	maxInflight int64
	long        float64 // long-term average latency, ns (an exponential moving average)
	estimate    float64 // the limit, before rounding
}

// windowSamples is how many answers make a window; longWindows how many windows the
// long-term average spans.
const (
	windowSamples = 100
	longWindows   = 60
	// smoothing is how far the limit moves towards its new estimate in one window.
	smoothing = 0.2
	// tolerance is how much slower than usual answers may get before the limit shrinks
	// (Gradient2's default).
	tolerance = 1.5
	// idleReset is how long nothing must be in flight before the shedder starts afresh: no
	// queue can be left after such a pause, and what it learnt before may no longer hold.
	idleReset = 5 * time.Second
)

// ErrDisabled is returned by New when c.Enabled is false.
var ErrDisabled = errors.New("shedding is off")

// New returns a shedder for c, or ErrDisabled.
func New(c Config) (*Shedder, error) {
	if !c.Enabled {
		return nil, ErrDisabled
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Shedder{cfg: c, estimate: float64(c.InitialLimit)}
	s.limit.Store(int64(c.InitialLimit))
	return s, nil
}

// Acquire admits a request, or says it is over the limit. An admitted one must be Released
// with its latency.
func (s *Shedder) Acquire() bool {
	n := s.inflight.Add(1)
	if n == 1 {
		s.wake()
	}
	if n > s.limit.Load() {
		s.inflight.Add(-1)
		s.shed.Add(1)
		return false
	}
	return true
}

// wake starts afresh after a pause of idleReset with nothing in flight: the latency averages
// are forgotten and the limit is at least the initial one again. (An attacker cannot make a
// gateway idle; a pause only returns it to what a new gateway has.)
func (s *Shedder) wake() {
	from := s.idleFrom.Swap(0)
	if from == 0 || time.Now().UnixNano()-from < int64(idleReset) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples, s.sum, s.maxInflight, s.long = 0, 0, 0, 0
	if s.estimate < float64(s.cfg.InitialLimit) {
		s.estimate = float64(s.cfg.InitialLimit)
		s.limit.Store(int64(s.cfg.InitialLimit))
	}
}

// Release ends an admitted request that took took; served says it was real work (a service
// answered it successfully), the only kind whose latency the shedder learns from.
func (s *Shedder) Release(took time.Duration, served bool) {
	inflight := s.inflight.Add(-1) + 1
	if inflight == 1 {
		s.idleFrom.Store(time.Now().UnixNano())
	}
	if !served {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	s.sum += took
	s.maxInflight = max(s.maxInflight, inflight)
	if s.samples < windowSamples {
		return
	}
	short := float64(s.sum) / float64(s.samples)
	used := s.maxInflight
	s.samples, s.sum, s.maxInflight = 0, 0, 0
	if s.long == 0 {
		s.long = short
		return
	}
	// The long-term average follows latency down at once, up only slowly and only while no
	// queue is forming: left free, it would learn the overloaded latency as the usual one, and
	// the limit would grow back to its maximum under the very flood it is there to refuse.
	switch {
	case short <= s.long:
		s.long += (short - s.long) / longWindows
	case short <= tolerance*s.long:
		s.long += (short - s.long) / (10 * longWindows)
	}
	limit := s.estimate
	// An app-limited window (the limit far from reached) says nothing about the capacity.
	if float64(used) < limit/2 {
		return
	}
	// Under 1 once now is slower than usual by more than the tolerance; never below 0.5 in one
	// step.
	gradient := math.Max(0.5, math.Min(1, tolerance*s.long/short))
	next := limit*gradient + math.Sqrt(limit)
	s.estimate = limit*(1-smoothing) + next*smoothing
	s.estimate = math.Max(float64(s.cfg.MinLimit), math.Min(float64(s.cfg.MaxLimit), s.estimate))
	s.limit.Store(int64(s.estimate))
}

// The shedder's state as Prometheus metrics, read when scraped: where the limit stands, what is
// in flight against it and how many requests it refused.
var (
	limitDesc    = prometheus.NewDesc("gomicro_gateway_shed_limit", "Requests in flight the load shedder admits now (it adapts to latency).", nil, nil)
	inflightDesc = prometheus.NewDesc("gomicro_gateway_shed_inflight", "Requests in flight, counted against the limit.", nil, nil)
	shedDesc     = prometheus.NewDesc("gomicro_gateway_shed_total", "Requests the load shedder refused (503, reason OVERLOADED).", nil, nil)
)

// Describe lists the shedder's metrics; with Collect it makes the shedder a
// prometheus.Collector, which the gateway registers.
func (s *Shedder) Describe(ch chan<- *prometheus.Desc) {
	ch <- limitDesc
	ch <- inflightDesc
	ch <- shedDesc
}

// Collect reports the shedder's state now.
func (s *Shedder) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, float64(s.limit.Load()))
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(max(0, s.inflight.Load())))
	ch <- prometheus.MustNewConstMetric(shedDesc, prometheus.CounterValue, float64(s.shed.Load()))
}

// overloaded is the reason of a shed request: 503, which clients see with Retry-After.
var overloaded = apipb.Reason_OVERLOADED.String()

// Middleware answers requests over s's limit with 503 and Retry-After at once; s nil lets
// every request through.
func Middleware(s *Shedder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if s == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.Acquire() {
				w.Header().Set("Retry-After", envelope.RetryAfterUnavailable)
				envelope.WriteReason(w, http.StatusServiceUnavailable, "the gateway is overloaded; try again shortly", overloaded)
				return
			}
			began := time.Now()
			sw := edge.NewStatusWriter(w)
			served := false
			// Released even if next panics (net/http recovers it), or the limit leaks.
			defer func() { s.Release(time.Since(began), served) }()
			next.ServeHTTP(sw, r)
			// Every success below the shedder is a service's answer (the edge answers health
			// checks and documents before it); everything else refused or failed.
			served = sw.Status < http.StatusBadRequest
		})
	}
}
