package breaker

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

// streamInterval is how often the stream writes every command's figures: the delay of Netflix's
// HystrixMetricsStreamServlet.
const streamInterval = 500 * time.Millisecond

// streamHandler serves /hystrix.stream as Netflix's HystrixMetricsStreamServlet does: every
// streamInterval, a HystrixCommand and a HystrixThreadPool event per command, with every field
// of Netflix's SerialHystrixDashboardData (testdata/netflix-fields.txt), from the figures the
// client wrapper records (stats.go). Every command configured is reported from the start, so a
// dashboard shows its cards at once; with none, a ping keeps the connection alive.
type streamHandler struct{ stop chan struct{} }

func newStreamHandler() *streamHandler { return &streamHandler{stop: make(chan struct{})} }

func (h *streamHandler) Stop() { close(h.stop) }

func (h *streamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	header := w.Header()
	header.Set("Content-Type", "text/event-stream")
	header.Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	header.Set("Pragma", "no-cache")
	header.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	ticker := time.NewTicker(streamInterval)
	defer ticker.Stop()
	for {
		if _, err := w.Write(streamEvents(time.Now())); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-h.stop:
			return
		case <-ticker.C:
		}
	}
}

// streamEvents is one round of the stream: "data: {json}\n\n" per event, or a ping.
func streamEvents(now time.Time) []byte {
	var out []byte
	for _, name := range commandNames() {
		for _, event := range commandEvents(name, now) {
			data, err := json.Marshal(event)
			if err != nil {
				continue
			}
			out = append(append(append(out, "data: "...), data...), "\n\n"...)
		}
	}
	if out == nil {
		out = []byte("ping: \n\n")
	}
	return out
}

// commandNames are the commands configured or called, sorted.
func commandNames() []string {
	seen := map[string]bool{}
	for name := range hystrix.GetCircuitSettings() {
		seen[name] = true
	}
	stats.Range(func(k, _ any) bool {
		seen[k.(string)] = true
		return true
	})
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// group is a command's service, as Netflix groups commands: go.micro.api.user of
// go.micro.api.user.User.GetUserInfo.
func group(command string) string {
	parts := strings.Split(command, ".")
	if len(parts) > 2 {
		return strings.Join(parts[:len(parts)-2], ".")
	}
	return command
}

// commandEvents are the HystrixCommand and HystrixThreadPool events of one command. The client
// wrapper bounds a command's concurrent calls (max_concurrent): Netflix's semaphore isolation,
// reported as the command's thread pool too, whose size and only bound (no queue) it is.
func commandEvents(name string, now time.Time) []map[string]any {
	settings := hystrix.GetCircuitSettings()[name]
	maxConcurrent, volume, sleep, percent := hystrix.DefaultMaxConcurrent, hystrix.DefaultVolumeThreshold, hystrix.DefaultSleepWindow, hystrix.DefaultErrorPercentThreshold
	if settings != nil {
		maxConcurrent, volume, sleep, percent = settings.MaxConcurrentRequests, int(settings.RequestVolumeThreshold), int(settings.SleepWindow/time.Millisecond), settings.ErrorPercentThreshold
	}
	open := false
	if circuit, _, err := hystrix.GetCircuit(name); err == nil {
		open = circuit.IsOpen()
	}
	s := statsOf(name).snapshot(now)
	requests, errorCount, errorPercent := s.health()
	timeoutMs := int64(timeoutOf(name) / time.Millisecond)
	windowMs := int64(rollingWindow / time.Millisecond)
	millis := now.UnixMilli()
	command := map[string]any{
		"type": "HystrixCommand", "name": name, "group": group(name), "currentTime": millis,
		"isCircuitBreakerOpen": open, "errorPercentage": errorPercent, "errorCount": errorCount, "requestCount": requests,
		"rollingCountBadRequests":            s.counts[badRequest],
		"rollingCountCollapsedRequests":      0,
		"rollingCountEmit":                   0,
		"rollingCountExceptionsThrown":       s.counts[exceptionThrown],
		"rollingCountFailure":                s.counts[failure],
		"rollingCountFallbackEmit":           0,
		"rollingCountFallbackFailure":        s.counts[fallbackFailure],
		"rollingCountFallbackMissing":        s.counts[fallbackMissing],
		"rollingCountFallbackRejection":      0,
		"rollingCountFallbackSuccess":        s.counts[fallbackSuccess],
		"rollingCountResponsesFromCache":     0,
		"rollingCountSemaphoreRejected":      s.counts[rejected],
		"rollingCountShortCircuited":         s.counts[shortCircuited],
		"rollingCountSuccess":                s.counts[success],
		"rollingCountThreadPoolRejected":     0,
		"rollingCountTimeout":                s.counts[timedOut],
		"currentConcurrentExecutionCount":    s.concurrent,
		"rollingMaxConcurrentExecutionCount": s.rollingMaxConcurrent,
		"latencyExecute_mean":                s.executeMean, "latencyExecute": s.executeLatency,
		"latencyTotal_mean": s.totalMean, "latencyTotal": s.totalLatency,
		"propertyValue_circuitBreakerRequestVolumeThreshold":             volume,
		"propertyValue_circuitBreakerSleepWindowInMilliseconds":          sleep,
		"propertyValue_circuitBreakerErrorThresholdPercentage":           percent,
		"propertyValue_circuitBreakerForceOpen":                          false,
		"propertyValue_circuitBreakerForceClosed":                        false,
		"propertyValue_circuitBreakerEnabled":                            true,
		"propertyValue_executionIsolationStrategy":                       "SEMAPHORE",
		"propertyValue_executionIsolationThreadTimeoutInMilliseconds":    timeoutMs,
		"propertyValue_executionTimeoutInMilliseconds":                   timeoutMs,
		"propertyValue_executionIsolationThreadInterruptOnTimeout":       true,
		"propertyValue_executionIsolationThreadPoolKeyOverride":          nil,
		"propertyValue_executionIsolationSemaphoreMaxConcurrentRequests": maxConcurrent,
		"propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests":  maxConcurrent,
		"propertyValue_metricsRollingStatisticalWindowInMilliseconds":    windowMs,
		"propertyValue_requestCacheEnabled":                              false,
		"propertyValue_requestLogEnabled":                                false,
		"reportingHosts":                                                 1,
		"threadPool":                                                     name,
	}
	pool := map[string]any{
		"type": "HystrixThreadPool", "name": name, "currentTime": millis,
		"currentActiveCount":                        s.concurrent,
		"currentCompletedTaskCount":                 s.executedEver,
		"currentCorePoolSize":                       maxConcurrent,
		"currentLargestPoolSize":                    s.largest,
		"currentMaximumPoolSize":                    maxConcurrent,
		"currentPoolSize":                           maxConcurrent,
		"currentQueueSize":                          0,
		"currentTaskCount":                          s.executedEver + int64(s.concurrent),
		"rollingCountThreadsExecuted":               s.executed,
		"rollingCountCommandRejections":             s.counts[rejected],
		"rollingMaxActiveThreads":                   s.rollingMaxConcurrent,
		"propertyValue_queueSizeRejectionThreshold": maxConcurrent,
		"propertyValue_metricsRollingStatisticalWindowInMilliseconds": windowMs,
		"reportingHosts": 1,
	}
	return []map[string]any{command, pool}
}
