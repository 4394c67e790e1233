package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/server"
)

// fakeRequest is the part of a go-micro server request the wrapper reads.
type fakeRequest struct {
	server.Request
	endpoint string
}

func (r fakeRequest) Endpoint() string { return r.endpoint }

// scrape serves /metrics on a free port and returns what it shows.
func scrape(t *testing.T, pprof bool, path string) (int, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := Serve(ctx, Config{Address: address, PProf: pprof}); err != nil {
		t.Fatal(err)
	}
	rsp, err := http.Get("http://" + address + path)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(body)
}

func TestHandlerWrapperCountsByCode(t *testing.T) {
	wrap := HandlerWrapper("metrics.test")
	for _, tc := range []struct {
		err  error
		code string
	}{
		{nil, "200"},
		{merrors.NotFound("metrics.test", "no such user"), "404"},
		{errors.New("not a go-micro error"), "500"},
	} {
		handler := wrap(func(context.Context, server.Request, interface{}) error { return tc.err })
		if err := handler(context.Background(), fakeRequest{endpoint: "Test.Do"}, nil); err != tc.err {
			t.Fatalf("the wrapper changed the error: %v", err)
		}
	}
	status, body := scrape(t, false, "/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, code := range []string{"200", "404", "500"} {
		line := `gomicro_requests_total{code="` + code + `",endpoint="Test.Do",service="metrics.test"} 1`
		if !strings.Contains(body, line) {
			t.Errorf("no %q in /metrics", line)
		}
	}
	if !strings.Contains(body, `gomicro_request_duration_seconds_bucket{code="200",endpoint="Test.Do",service="metrics.test",le="0.0005"}`) {
		t.Error("no latency histogram")
	}
}

func TestBreakerStates(t *testing.T) {
	hystrix.ConfigureCommand("metrics.test.Open", hystrix.CommandConfig{RequestVolumeThreshold: 1, ErrorPercentThreshold: 1, SleepWindow: 3_600_000})
	hystrix.ConfigureCommand("metrics.test.Closed", hystrix.CommandConfig{})
	hystrix.GetCircuit("metrics.test.Closed")
	open, _, _ := hystrix.GetCircuit("metrics.test.Open")
	// hystrix counts failures asynchronously: fail until the circuit opens.
	deadline := time.Now().Add(10 * time.Second)
	for !open.IsOpen() {
		hystrix.Do("metrics.test.Open", func() error { return errors.New("down") }, nil)
		if time.Now().After(deadline) {
			t.Fatal("the circuit did not open")
		}
		time.Sleep(time.Millisecond)
	}
	_, body := scrape(t, false, "/metrics")
	for _, line := range []string{`gomicro_breaker_open{command="metrics.test.Open"} 1`, `gomicro_breaker_open{command="metrics.test.Closed"} 0`} {
		if !strings.Contains(body, line) {
			t.Errorf("no %q in /metrics", line)
		}
	}
}

func TestPProfOnlyWhenAsked(t *testing.T) {
	if status, _ := scrape(t, false, "/debug/pprof/"); status != http.StatusNotFound {
		t.Fatalf("pprof without metrics.pprof: %d", status)
	}
	if status, body := scrape(t, true, "/debug/pprof/"); status != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof with metrics.pprof: %d", status)
	}
}

func TestServeNothingWithoutAddress(t *testing.T) {
	if err := Serve(context.Background(), Config{}); err != nil {
		t.Fatal(err)
	}
}

func TestServeStopsWithTheContext(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	address := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if err := Serve(ctx, Config{Address: address}); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := http.Get("http://" + address + "/metrics"); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("still serving after the context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeReportsATakenAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := Serve(context.Background(), Config{Address: l.Addr().String()}); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("a taken address: %v", err)
	}
}
