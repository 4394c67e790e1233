package breaker

import (
	"math"
	"slices"
	"sync"
	"time"
)

// outcome is what happened to one call, in the terms of Netflix Hystrix's HystrixEventType.
type outcome int

const (
	success outcome = iota
	failure
	timedOut
	shortCircuited
	rejected // hystrix-go's pool of concurrent calls was full: Netflix's SEMAPHORE_REJECTED
	badRequest
	exceptionThrown
	fallbackSuccess
	fallbackFailure
	fallbackMissing
	outcomes
)

const (
	// rollingWindow is Netflix's metrics.rollingStats.timeInMilliseconds: counts cover the last
	// 10 s, in buckets of a second, as hystrix-go's do.
	rollingWindow = 10 * time.Second
	buckets       = 10
	// percentileWindow is Netflix's metrics.rollingPercentile.timeInMilliseconds; at most
	// maxSamples latencies are kept.
	percentileWindow = time.Minute
	maxSamples       = 1000
)

// commandStats are one command's rolling counts and latencies, recorded by the client wrapper
// for the stream (stream.go). hystrix-go keeps its own to open and close the breaker, but
// exposes none of them; these count every call once, so that errors and successes add up to
// the requests.
type commandStats struct {
	mu          sync.Mutex
	buckets     [buckets]bucket
	concurrent  int
	largest     int   // most concurrent executions ever
	executed    int64 // executions finished, ever
	execute     []sample
	total       []sample
	nextExecute int
	nextTotal   int
}

type bucket struct {
	second        int64
	counts        [outcomes]int64
	executed      int64
	maxConcurrent int
}

type sample struct {
	at time.Time
	ms float64
}

var stats sync.Map // command name → *commandStats

func statsOf(name string) *commandStats {
	if s, ok := stats.Load(name); ok {
		return s.(*commandStats)
	}
	s, _ := stats.LoadOrStore(name, &commandStats{})
	return s.(*commandStats)
}

// current is the bucket of now, emptied if it held an older second.
func (s *commandStats) current(now time.Time) *bucket {
	sec := now.Unix()
	b := &s.buckets[sec%buckets]
	if b.second != sec {
		*b = bucket{second: sec}
	}
	return b
}

// begin marks an execution as running.
func (s *commandStats) begin(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.concurrent++
	s.largest = max(s.largest, s.concurrent)
	b := s.current(now)
	b.maxConcurrent = max(b.maxConcurrent, s.concurrent)
}

// end marks an execution as finished after took.
func (s *commandStats) end(now time.Time, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.concurrent--
	s.executed++
	s.current(now).executed++
	s.execute, s.nextExecute = keep(s.execute, s.nextExecute, sample{now, ms(took)})
}

// record counts what happened to a call that took took in all, in Netflix Hystrix's terms:
// how the command ended (success, bad request, failure, timeout, short-circuited, rejected),
// how its fallback did (noOutcome: it needed none), and whether the caller got an error.
func (s *commandStats) record(now time.Time, took time.Duration, ended, fallback outcome, thrown bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.current(now)
	b.counts[ended]++
	if fallback != noOutcome {
		b.counts[fallback]++
	}
	if thrown {
		b.counts[exceptionThrown]++
	}
	s.total, s.nextTotal = keep(s.total, s.nextTotal, sample{now, ms(took)})
}

func keep(ring []sample, next int, x sample) ([]sample, int) {
	if len(ring) < maxSamples {
		return append(ring, x), next
	}
	ring[next] = x
	return ring, (next + 1) % maxSamples
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// snapshot is a command's figures as the stream reports them.
type snapshot struct {
	counts                       [outcomes]int64
	executed                     int64 // in the window
	executedEver                 int64
	concurrent, largest          int
	rollingMaxConcurrent         int
	executeMean, totalMean       float64
	executeLatency, totalLatency map[string]float64
}

// percentiles are the ones Netflix's stream writes.
var percentiles = []struct {
	name string
	p    float64
}{{"0", 0}, {"25", 25}, {"50", 50}, {"75", 75}, {"90", 90}, {"95", 95}, {"99", 99}, {"99.5", 99.5}, {"100", 100}}

func (s *commandStats) snapshot(now time.Time) snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out snapshot
	oldest := now.Unix() - buckets + 1
	for _, b := range s.buckets {
		if b.second < oldest || b.second > now.Unix() {
			continue
		}
		for o := range b.counts {
			out.counts[o] += b.counts[o]
		}
		out.executed += b.executed
		out.rollingMaxConcurrent = max(out.rollingMaxConcurrent, b.maxConcurrent)
	}
	out.executedEver, out.concurrent, out.largest = s.executed, s.concurrent, s.largest
	out.executeMean, out.executeLatency = latencies(s.execute, now)
	out.totalMean, out.totalLatency = latencies(s.total, now)
	return out
}

// latencies are the mean and percentiles, in whole milliseconds as Netflix writes them, of the
// samples of the last percentileWindow.
func latencies(ring []sample, now time.Time) (float64, map[string]float64) {
	var values []float64
	sum := 0.0
	for _, x := range ring {
		if now.Sub(x.at) <= percentileWindow {
			values = append(values, x.ms)
			sum += x.ms
		}
	}
	out := make(map[string]float64, len(percentiles))
	if len(values) == 0 {
		for _, p := range percentiles {
			out[p.name] = 0
		}
		return 0, out
	}
	slices.Sort(values)
	for _, p := range percentiles {
		rank := int(math.Ceil(p.p / 100 * float64(len(values))))
		out[p.name] = math.Round(values[max(rank-1, 0)])
	}
	return math.Round(sum / float64(len(values))), out
}

// health is Netflix's HealthCounts: the requests that count towards opening the breaker, and
// those of them that failed (bad requests count in neither).
func (s snapshot) health() (requests, errors int64, percent int) {
	errors = s.counts[failure] + s.counts[timedOut] + s.counts[shortCircuited] + s.counts[rejected]
	requests = s.counts[success] + errors
	if requests > 0 {
		percent = int(errors * 100 / requests)
	}
	return requests, errors, percent
}
