package breaker

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	merrors "github.com/micro/go-micro/v2/errors"
)

// netflixFields are the fields of each event type that Netflix's SerialHystrixDashboardData
// writes (testdata/netflix-fields.txt).
func netflixFields(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile("testdata/netflix-fields.txt")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if kind, field, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			fields[kind] = append(fields[kind], field)
		}
	}
	return fields
}

// readEvents reads the stream at url until it has an event of each type for command.
func readEvents(t *testing.T, url, command string) map[string]map[string]any {
	t.Helper()
	rsp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if ct := rsp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	found := make(chan map[string]map[string]any, 1)
	go func() {
		events := map[string]map[string]any{}
		scanner := bufio.NewScanner(rsp.Body)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			line, ok := strings.CutPrefix(scanner.Text(), "data: ")
			var event map[string]any
			if ok && json.Unmarshal([]byte(line), &event) == nil && event["name"] == command {
				events[event["type"].(string)] = event
				if len(events) == 2 {
					found <- events
					return
				}
			}
		}
	}()
	select {
	case events := <-found:
		return events
	case <-time.After(5 * time.Second):
		t.Fatal("no events for the command within 5s")
		return nil
	}
}

// TestStreamSpeaksHystrix: after 3 successes, 5 failures and 2 bad requests through the client
// wrapper, the stream's events carry every field Netflix's stream writes, with the counts and
// settings of what happened, and counts that add up (errors + successes = requests).
func TestStreamSpeaksHystrix(t *testing.T) {
	var calls atomic.Int32
	c, req, _ := setupWith(t, Config{Timeout: 250 * time.Millisecond, MaxConcurrent: 70, ErrorPercent: 90, RequestVolume: 1000, SleepWindow: time.Hour},
		func(context.Context, *string) error {
			switch n := calls.Add(1); {
			case n <= 3:
				return nil
			case n <= 8:
				return merrors.InternalServerError("go.micro.api.test", "broken")
			default:
				return merrors.NotFound("go.micro.api.test", "no such thing")
			}
		}, nil)
	for range 10 {
		var rsp string
		c.Call(context.Background(), req, &rsp)
	}
	handler, stop := StreamHandler(false)
	defer stop()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	name := CommandName(req.Service(), req.Endpoint())
	events := readEvents(t, srv.URL+"/hystrix.stream", name)

	for kind, fields := range netflixFields(t) {
		event := events[kind]
		for _, field := range fields {
			if _, ok := event[field]; !ok {
				t.Errorf("%s lacks %s, which Netflix's stream writes", kind, field)
			}
		}
	}
	command, pool := events["HystrixCommand"], events["HystrixThreadPool"]
	for field, want := range map[string]float64{
		"rollingCountSuccess": 3, "rollingCountFailure": 5, "rollingCountBadRequests": 2,
		"rollingCountFallbackMissing": 5, "rollingCountExceptionsThrown": 7,
		"requestCount": 8, "errorCount": 5, "errorPercentage": 62,
		"propertyValue_executionTimeoutInMilliseconds":                   250,
		"propertyValue_executionIsolationThreadTimeoutInMilliseconds":    250,
		"propertyValue_executionIsolationSemaphoreMaxConcurrentRequests": 70,
		"propertyValue_circuitBreakerRequestVolumeThreshold":             1000,
		"propertyValue_circuitBreakerErrorThresholdPercentage":           90,
		"rollingMaxConcurrentExecutionCount":                             1,
		"currentConcurrentExecutionCount":                                0,
	} {
		if got, _ := command[field].(float64); got != want {
			t.Errorf("HystrixCommand %s = %v, want %v", field, command[field], want)
		}
	}
	for field, want := range map[string]float64{
		"currentCompletedTaskCount": 10, "rollingCountThreadsExecuted": 10, "currentMaximumPoolSize": 70,
		"propertyValue_queueSizeRejectionThreshold": 70, "rollingCountCommandRejections": 0, "rollingMaxActiveThreads": 1,
	} {
		if got, _ := pool[field].(float64); got != want {
			t.Errorf("HystrixThreadPool %s = %v, want %v", field, pool[field], want)
		}
	}
	if latency, _ := command["latencyTotal"].(map[string]any); len(latency) != 9 || command["currentTime"].(float64) < float64(time.Now().Add(-time.Minute).UnixMilli()) {
		t.Errorf("latencyTotal %v, currentTime %v", command["latencyTotal"], command["currentTime"])
	}
}

// TestStreamReportsCommandsBeforeTheirFirstCall: a configured command is on the stream at once
// (a dashboard shows its card without waiting for traffic).
func TestStreamReportsCommandsBeforeTheirFirstCall(t *testing.T) {
	name := "go.micro.api.idle.Idle.Wait"
	if err := Apply([]string{name}, Config{Timeout: time.Second, MaxConcurrent: 5, ErrorPercent: 50, RequestVolume: 20, SleepWindow: time.Second}); err != nil {
		t.Fatal(err)
	}
	handler, stop := StreamHandler(false)
	defer stop()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	events := readEvents(t, srv.URL+"/hystrix.stream", name)
	if events["HystrixCommand"]["requestCount"].(float64) != 0 || events["HystrixCommand"]["group"] != "go.micro.api.idle" {
		t.Fatalf("%v", events["HystrixCommand"])
	}
}

func TestDashboardIsSelfContained(t *testing.T) {
	handler, stop := StreamHandler(false)
	defer stop()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	rsp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	page := string(body)
	if rsp.StatusCode != 200 || !strings.Contains(page, `new EventSource("hystrix.stream")`) {
		t.Fatalf("%d %.200s", rsp.StatusCode, page)
	}
	// No script, style or font from elsewhere: the page works where no CDN is reachable.
	if external := regexp.MustCompile(`(src|href)="(https?:)?//`).FindString(page); external != "" {
		t.Fatalf("the page loads something from outside: %s", external)
	}
}

func TestStreamServesMetricsAndProfiles(t *testing.T) {
	handler, stop := StreamHandler(true)
	defer stop()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	for path, want := range map[string]string{"/metrics": "gomicro_breaker_open", "/debug/pprof/": "goroutine", "/health": "UP"} {
		rsp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, want %q in the body", path, rsp.StatusCode, want)
		}
	}
}
