package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetrics: after a hello, each process's /metrics counts it, and the greeter reports its
// breaker's state.
func TestMetrics(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	if a := c.hello(c.signup("metrics_e2e"), "Bob"); a.Status != 200 {
		t.Fatalf("hello: %d %s", a.Status, a.Raw)
	}
	all := ""
	for _, url := range shared.MetricsURLs {
		rsp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != 200 || !strings.Contains(rsp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%s: %d %s", url, rsp.StatusCode, rsp.Header.Get("Content-Type"))
		}
		all += string(body)
	}
	for _, want := range []string{
		`gomicro_requests_total{code="200",endpoint="/greeter/hello",service="gateway"}`,
		`gomicro_requests_total{code="200",endpoint="Greeter.Hello",service="go.micro.api.greeter"}`,
		`gomicro_requests_total{code="200",endpoint="User.GetUserInfo",service="go.micro.api.user"}`,
		`gomicro_request_duration_seconds_bucket{code="200",endpoint="User.Login",service="go.micro.api.user",le="+Inf"}`,
		`gomicro_breaker_open{command="go.micro.api.user.User.GetUserInfo"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no %s in the metrics", want)
		}
	}
}
