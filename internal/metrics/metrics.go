// Package metrics exposes a binary's numbers in Prometheus format: calls served by endpoint and
// code with a latency histogram, the state of every circuit breaker, and Go's runtime figures;
// and, when asked, the pprof profiles.
package metrics

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gomicro-stack/gomicro-stack/internal/httpserve"
)

// Config says where to serve.
type Config struct {
	// Address serves /metrics (and /debug/pprof with PProf); empty: not served on a port of its
	// own.
	Address string `mapstructure:"address" usage:"address of /metrics (Prometheus) and, with metrics.pprof, /debug/pprof/ (empty: off)"`
	PProf   bool   `mapstructure:"pprof" usage:"serve Go's pprof profiles beside /metrics (for profiling; keep the address private)"`
}

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gomicro_requests_total", Help: "Calls served, by service, endpoint and code (HTTP status).",
	}, []string{"service", "endpoint", "code"})
	latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gomicro_request_duration_seconds", Help: "Time to serve a call, by service, endpoint and code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"service", "endpoint", "code"})
)

func init() {
	prometheus.MustRegister(requests, latency, breakerCollector{})
}

// Observe records one call.
func Observe(service, endpoint string, code int, took time.Duration) {
	c := strconv.Itoa(code)
	requests.WithLabelValues(service, endpoint, c).Inc()
	latency.WithLabelValues(service, endpoint, c).Observe(took.Seconds())
}

// HandlerWrapper records every call a go-micro server serves. The code is the go-micro
// error's (an HTTP status), 200 for a success.
func HandlerWrapper(service string) server.HandlerWrapper {
	return func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp interface{}) error {
			began := time.Now()
			err := next(ctx, req, rsp)
			code := http.StatusOK
			if err != nil {
				if code = int(merrors.Parse(err.Error()).Code); code == 0 {
					code = http.StatusInternalServerError
				}
			}
			Observe(service, req.Endpoint(), code, time.Since(began))
			return err
		}
	}
}

// breakerCollector reports each hystrix circuit as open (1) or closed (0) when scraped.
type breakerCollector struct{}

var breakerOpen = prometheus.NewDesc("gomicro_breaker_open", "1 when the circuit breaker of a command is open.", []string{"command"}, nil)

func (breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerOpen }

func (breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for name := range hystrix.GetCircuitSettings() {
		cb, _, err := hystrix.GetCircuit(name)
		if err != nil {
			continue
		}
		open := 0.0
		if cb.IsOpen() {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(breakerOpen, prometheus.GaugeValue, open, name)
	}
}

// Mount adds /metrics, and /debug/pprof/ when pprof is set, to mux.
func Mount(mux *http.ServeMux, withPProf bool) {
	mux.Handle("GET /metrics", promhttp.Handler())
	if withPProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

// Serve serves Mount's handlers on c.Address until ctx ends; an empty address serves nothing.
func Serve(ctx context.Context, c Config) error {
	if c.Address == "" {
		return nil
	}
	mux := http.NewServeMux()
	Mount(mux, c.PProf)
	_, err := httpserve.Serve(ctx, "metrics", c.Address, mux)
	return err
}
