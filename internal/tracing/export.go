package tracing

import (
	"context"
	"log"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gomicro-stack/gomicro-stack/internal/outage"
)

var (
	spansExported = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gomicro_tracing_spans_exported_total", Help: "Spans the trace collector took.",
	})
	spansDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gomicro_tracing_spans_dropped_total", Help: "Spans lost, by reason: queue_full (the collector is slower than the spans come), export_failed (it did not take them).",
	}, []string{"reason"})
	droppedQueueFull    = spansDropped.WithLabelValues("queue_full")
	droppedExportFailed = spansDropped.WithLabelValues("export_failed")
)

func init() { prometheus.MustRegister(spansExported, spansDropped) }

const (
	// maxBatch is the most spans sent at once; batchDelay the longest a span waits for others.
	maxBatch   = 512
	batchDelay = time.Second
)

// exportQueue is a span processor that hands finished spans to a goroutine which sends them in
// batches. A request only ever puts its span in a bounded channel without waiting: when the
// collector is down or slow the channel fills and further spans are dropped and counted, so
// tracing never adds the collector's latency to a request. (The SDK's batch processor drops
// as well, but counts nowhere one can read.)
type exportQueue struct {
	exporter sdktrace.SpanExporter
	endpoint string
	timeout  time.Duration
	spans    chan sdktrace.ReadOnlySpan
	flushes  chan chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	once     sync.Once
	outages  outage.Tracker // only the sending goroutine uses it
}

func newExportQueue(exporter sdktrace.SpanExporter, endpoint string, size int, timeout time.Duration) *exportQueue {
	q := &exportQueue{
		exporter: exporter, endpoint: endpoint, timeout: timeout,
		spans: make(chan sdktrace.ReadOnlySpan, size), flushes: make(chan chan struct{}),
		stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	go q.run()
	return q
}

func (q *exportQueue) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (q *exportQueue) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	select {
	case q.spans <- s:
	default:
		droppedQueueFull.Inc()
	}
}

func (q *exportQueue) run() {
	defer close(q.stopped)
	batch := make([]sdktrace.ReadOnlySpan, 0, maxBatch)
	ticker := time.NewTicker(batchDelay)
	defer ticker.Stop()
	send := func() {
		if len(batch) > 0 {
			q.export(batch)
			batch = batch[:0]
		}
	}
	// drain moves what is queued now into batches.
	drain := func() {
		for {
			select {
			case s := <-q.spans:
				if batch = append(batch, s); len(batch) == maxBatch {
					send()
				}
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case s := <-q.spans:
			if batch = append(batch, s); len(batch) == maxBatch {
				send()
			}
		case <-ticker.C:
			send()
		case done := <-q.flushes:
			drain()
			close(done)
		case <-q.stop:
			drain()
			return
		}
	}
}

// export sends one batch; a failure is logged when it begins and when it ends, not per batch.
func (q *exportQueue) export(batch []sdktrace.ReadOnlySpan) {
	ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
	err := q.exporter.ExportSpans(ctx, batch)
	cancel()
	switch q.outages.Observe(err) {
	case outage.Began:
		log.Printf("tracing: the collector at %s did not take %d spans (%v); dropping spans until it does", q.endpoint, len(batch), err)
	case outage.Ended:
		log.Printf("tracing: the collector at %s takes spans again", q.endpoint)
	}
	if err != nil {
		droppedExportFailed.Add(float64(len(batch)))
		return
	}
	spansExported.Add(float64(len(batch)))
}

// ForceFlush sends what is queued before it returns (or ctx ends).
func (q *exportQueue) ForceFlush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case q.flushes <- done:
	case <-q.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown sends what is queued, then closes the exporter.
func (q *exportQueue) Shutdown(ctx context.Context) error {
	q.once.Do(func() { close(q.stop) })
	select {
	case <-q.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	return q.exporter.Shutdown(ctx)
}
