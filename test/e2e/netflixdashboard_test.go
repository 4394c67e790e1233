package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// TestNetflixDashboardReadsTheStream: the Netflix Hystrix Dashboard's own page and scripts (npm
// hystrix-dashboard 1.0.4, the Java dashboard's webapp), in headless Chromium, read the
// greeter's /hystrix.stream and draw its breaker's card, CLOSED, and its thread pool, without
// any traffic yet. The page loads underscore.js from a CDN, which this machine cannot reach: the
// test serves the same release (npm underscore 1.8.3) in its place, and stands in for the
// dashboard's /proxy.stream by passing the stream through.
func TestNetflixDashboardReadsTheStream(t *testing.T) {
	dashboard := filepath.Join(npmInstall(t, "hystrix-dashboard@1.0.4"), "hystrix-dashboard", "webapp")
	underscore := filepath.Join(npmInstall(t, "underscore@1.8.3"), "underscore", "underscore-min.js")
	b, ok := startBrowser(t)
	if !ok {
		return
	}
	monitor, err := os.ReadFile(filepath.Join(dashboard, "monitor", "monitor.html"))
	if err != nil {
		t.Fatal(err)
	}
	const cdn = "//cdnjs.cloudflare.com/ajax/libs/underscore.js/1.8.3/underscore-min.js"
	if !strings.Contains(string(monitor), cdn) {
		t.Fatalf("monitor.html no longer loads %s", cdn)
	}
	monitor = []byte(strings.Replace(string(monitor), cdn, "/underscore-min.js", 1))
	mux := http.NewServeMux()
	mux.HandleFunc("/monitor/monitor.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(monitor)
	})
	mux.HandleFunc("/underscore-min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, underscore) })
	mux.HandleFunc("/proxy.stream", func(w http.ResponseWriter, r *http.Request) {
		rsp, err := http.Get(r.URL.Query().Get("origin"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer rsp.Body.Close()
		w.Header().Set("Content-Type", "text/event-stream")
		reader := bufio.NewReader(rsp.Body)
		for {
			line, err := reader.ReadBytes('\n')
			if _, werr := w.Write(line); werr != nil || err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.Handle("/", http.FileServer(http.Dir(dashboard)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections) // first: the browser holds the stream open

	stream := shared.BreakerURLs[0] + "hystrix.stream"
	if err := b.open(srv.URL + "/monitor/monitor.html?stream=" + url.QueryEscape(stream)); err != nil {
		t.Fatal(err)
	}
	command := "go.micro.api.user.User.GetUserInfo"
	var page string
	err = stack.Eventually(20*time.Second, 200*time.Millisecond, func() error {
		var out struct {
			Value string `json:"value"`
		}
		script := `return document.querySelectorAll("div.monitor[id^='CIRCUIT_']").length + "|" + document.querySelectorAll("div.monitor[id^='THREAD_POOL_']").length + "|" + document.body.innerText`
		if err := b.call("POST", "/session/"+b.session+"/execute/sync", map[string]any{"script": script, "args": []any{}}, &out); err != nil {
			return err
		}
		page = out.Value
		// The dashboard abbreviates long names (go.m...ser.User.GetUserInfo).
		if !strings.HasPrefix(page, "1|1|") || !strings.Contains(page, "User.GetUserInfo") || !strings.Contains(page, "Closed") {
			return fmt.Errorf("not drawn yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the Netflix dashboard did not draw the breaker: %v\n%.4000s", err, page)
	}
	t.Logf("the Netflix Hystrix Dashboard draws %s: Circuit Closed, and its thread pool", command)
}
