package breaker

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

func TestStreamSpeaksHystrix(t *testing.T) {
	handler, stop := StreamHandler(false)
	defer stop()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	hystrix.Do("stream.test.Cmd", func() error { return nil }, nil)

	rsp, err := http.Get(srv.URL + "/hystrix.stream")
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if ct := rsp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	found := make(chan map[string]any, 1)
	go func() {
		scanner := bufio.NewScanner(rsp.Body)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			line, ok := strings.CutPrefix(scanner.Text(), "data:")
			var event map[string]any
			if ok && json.Unmarshal([]byte(line), &event) == nil && event["name"] == "stream.test.Cmd" {
				found <- event
				return
			}
		}
	}()
	select {
	case event := <-found:
		for _, field := range []string{"type", "isCircuitBreakerOpen", "errorPercentage", "requestCount", "latencyTotal", "rollingCountSuccess"} {
			if _, ok := event[field]; !ok {
				t.Errorf("the event lacks %s, which the Hystrix Dashboard reads", field)
			}
		}
		if event["type"] != "HystrixCommand" || event["rollingCountSuccess"].(float64) != 1 {
			t.Fatalf("event %v", event)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for the command within 5s")
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
