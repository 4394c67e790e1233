package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

// TestTracing: with Jaeger running, a request's trace holds the spans of every hop with the
// right parents; the trace id in the answer is the one in the logs and in Jaeger; a degraded
// hello's trace shows the breaker's fallback; and with Jaeger killed or hung, hellos keep
// their latency while the lost spans are counted.
func TestTracing(t *testing.T) {
	jaeger := stack.FindJaeger(repoRoot)
	if jaeger == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no jaeger executable (JAEGER_BIN, PATH or bin/jaeger): run make jaeger")
		}
		t.Skip("no jaeger executable: run make jaeger")
	}
	s := ownStack(t, stack.Config{Tracing: stack.Tracing{JaegerBin: jaeger, JaegerConfig: filepath.Join(repoRoot, "deploy/jaeger/config.yaml")},
		Env: []string{"GATEWAY_ACCESS_LOG=true"}})
	c := newClient(t, s.GatewayURL)
	token := c.signup("tracing_e2e")

	t.Run("one trace across gateway, greeter and user", func(t *testing.T) {
		// The caller's own trace goes on: its trace id, the gateway's span a child of its span.
		const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		a := c.hello(token, "Bob", "traceparent: 00-"+callerTrace+"-"+callerSpan+"-01")
		if a.Status != 200 {
			t.Fatalf("hello: %d %s", a.Status, a.Raw)
		}
		if id := tracing.TraceIDOfTraceparent(a.Header.Get("Traceparent")); id != callerTrace {
			t.Fatalf("answer's traceparent %q: want the caller's trace %s", a.Header.Get("Traceparent"), callerTrace)
		}
		tr := waitTrace(t, s, callerTrace, "gateway", "greeter", "user")
		edge := tr.one(t, "gateway", "POST /greeter/hello", "server")
		if edge.parent() != callerSpan {
			t.Errorf("gateway span's parent %q, want the caller's span %s", edge.parent(), callerSpan)
		}
		tr.chain(t, edge,
			hop{"gateway", "Greeter.Hello", "client"}, hop{"greeter", "Greeter.Hello", "server"},
			hop{"greeter", "User.GetUserInfo", "client"}, hop{"user", "User.GetUserInfo", "server"})
		if got := tr.one(t, "greeter", "User.GetUserInfo", "client").tag("breaker.outcome"); got != "success" {
			t.Errorf("breaker.outcome %q on the greeter's call, want success", got)
		}
		// The access log line of the request names its trace.
		waitLog(t, "POST /greeter/hello", "trace_id="+callerTrace)

		// A login's trace reaches the database: the user service's queries are its spans.
		login := c.login("tracing_e2e", "password-tracing_e2e")
		loginTrace := tracing.TraceIDOfTraceparent(login.Header.Get("Traceparent"))
		if login.Status != 200 || loginTrace == "" {
			t.Fatalf("login: %d %s, traceparent %q", login.Status, login.Raw, login.Header.Get("Traceparent"))
		}
		lt := waitTrace(t, s, loginTrace, "gateway", "user")
		server := lt.chain(t, lt.one(t, "gateway", "POST /user/login", "server"), hop{"gateway", "User.Login", "client"}, hop{"user", "User.Login", "server"})
		query := lt.child(t, server, "user", "SELECT users", "client")
		if text := query.tag("db.query.text"); !strings.Contains(text, "users") || strings.Contains(text, "tracing_e2e") {
			t.Errorf("query text %q: want the SQL with placeholders, never the username", text)
		}

		// A malformed traceparent starts a new trace; an error answer names its trace too.
		a = c.hello(token, "", "traceparent: 00-zz-not-a-trace")
		expectError(t, a, 400, "")
		if a.Str("trace_id") == callerTrace {
			t.Fatal("a malformed traceparent kept an old trace id")
		}
		waitTrace(t, s, a.Str("trace_id"), "gateway")

		// The config server traces its requests as well.
		rsp, err := http.Get(s.ConfigServerURL + "/greeter/default")
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		configTrace := waitTrace(t, s, tracing.TraceIDOfTraceparent(rsp.Header.Get("Traceparent")), "configserver")
		configTrace.one(t, "configserver", "HTTP GET", "server")
	})

	t.Run("spans are dropped, not waited for, while Jaeger is down", func(t *testing.T) {
		spansDropped := func() float64 { return metricSum(t, s.MetricsURLs, "gomicro_tracing_spans_dropped_total") }
		var up, killed, hung []time.Duration
		measure := func() []time.Duration {
			l := newLoad(s.GatewayURL, token)
			l.run(200, 3*time.Second, 0, nil)
			if _, failed, degraded, _, _ := l.report(t, "hellos"); failed != 0 || degraded != 0 {
				t.Fatalf("%d failed, %d degraded: tracing must not change the answers", failed, degraded)
			}
			return l.latencies
		}
		measure() // warm-up: connections, caches
		up = append(up, measure()...)

		if err := s.Jaeger.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-s.Jaeger.Done()
		before := spansDropped()
		killed = measure()

		// Jaeger back: spans reach it again.
		if err := s.StartJaeger(); err != nil {
			t.Fatal(err)
		}
		up = append(up, measure()...)
		a := c.hello(token, "Bob")
		waitTrace(t, s, tracing.TraceIDOfTraceparent(a.Header.Get("Traceparent")), "gateway", "greeter", "user")

		// Hung: the port takes connections, nothing answers. A request that waited for its
		// spans' export would wait out the 2 s export timeout.
		if err := s.Jaeger.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		hung = measure()
		s.Jaeger.Signal(syscall.SIGCONT)
		up = append(up, measure()...)

		base := p99(up)
		for name, got := range map[string][]time.Duration{"killed": killed, "hung": hung} {
			t.Logf("p99 with Jaeger up %s, %s %s", base.Round(100*time.Microsecond), name, p99(got).Round(100*time.Microsecond))
			// What this guards: no request waits for its spans' export (with Jaeger hung, the
			// 2 s export timeout). Twice the p99 and 20 ms leave room for a loaded 2-core
			// machine's noise (10 % and 2 ms failed 1 run in about 8 here); how much tracing
			// costs is make bench's to say (the tracing rows of BENCHMARKS.md), not a timed test's.
			if limit := 2*base + 20*time.Millisecond; p99(got) > limit {
				t.Errorf("with Jaeger %s, p99 %s over %s (up: %s)", name, p99(got), limit, base)
			}
		}
		if err := stack.Eventually(10*time.Second, 200*time.Millisecond, func() error {
			if after := spansDropped(); after <= before {
				return fmt.Errorf("spans dropped: %v before Jaeger went down, %v after", before, after)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("spans dropped while Jaeger was down: %v", spansDropped()-before)
	})

	t.Run("a degraded hello's trace shows the fallback", func(t *testing.T) {
		for _, u := range s.Users {
			u.Signal(syscall.SIGKILL)
			<-u.Done()
		}
		a := c.hello(token, "Bob")
		if a.Status != 200 || a.Body["degraded"] != true {
			t.Fatalf("hello with the user service down: %d %s, want a degraded answer", a.Status, a.Raw)
		}
		traceID := tracing.TraceIDOfTraceparent(a.Header.Get("Traceparent"))
		tr := waitTrace(t, s, traceID, "gateway", "greeter")
		call := tr.one(t, "greeter", "User.GetUserInfo", "client")
		if !call.hasEvent("breaker.fallback") || call.tag("breaker.outcome") == "success" {
			t.Errorf("greeter's call to the user service: tags %v, logs %v: want a breaker.fallback event and a failed outcome", call.Tags, call.Logs)
		}
		if got := tr.one(t, "greeter", "Greeter.Hello", "server").tag("greeter.degraded"); got != "true" {
			t.Errorf("greeter.degraded %q on the greeter's span, want true", got)
		}
		// The greeter's warning about the failed call names the trace.
		waitLog(t, "user service", "trace_id="+traceID)
	})
}

// jaegerTrace is a trace as Jaeger's query API returns it (/api/traces/{id}).
type jaegerTrace struct {
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []jaegerTag `json:"tags"`
	Logs []struct {
		Fields []jaegerTag `json:"fields"`
	} `json:"logs"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s jaegerSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

func (s jaegerSpan) hasEvent(name string) bool {
	for _, l := range s.Logs {
		for _, f := range l.Fields {
			if f.Key == "event" && f.Value == name {
				return true
			}
		}
	}
	return false
}

// hop names a span: the service that made it, its name and kind.
type hop struct{ service, name, kind string }

// matching are the trace's spans made by service with name and kind.
func (tr jaegerTrace) matching(h hop) []jaegerSpan {
	var out []jaegerSpan
	for _, s := range tr.Spans {
		if tr.Processes[s.ProcessID].ServiceName == h.service && s.OperationName == h.name && s.tag("span.kind") == h.kind {
			out = append(out, s)
		}
	}
	return out
}

// one is the trace's single span of service named name of kind.
func (tr jaegerTrace) one(t *testing.T, service, name, kind string) jaegerSpan {
	t.Helper()
	found := tr.matching(hop{service, name, kind})
	if len(found) != 1 {
		t.Fatalf("%d %s spans %q of %s in the trace, want one; the trace: %s", len(found), kind, name, service, tr)
	}
	return found[0]
}

// child is parent's child span named name of service and kind.
func (tr jaegerTrace) child(t *testing.T, parent jaegerSpan, service, name, kind string) jaegerSpan {
	t.Helper()
	for _, s := range tr.matching(hop{service, name, kind}) {
		if s.parent() == parent.SpanID {
			return s
		}
	}
	t.Fatalf("no %s span %q of %s under %s's span %q; the trace: %s", kind, name, service, tr.Processes[parent.ProcessID].ServiceName, parent.OperationName, tr)
	return jaegerSpan{}
}

// chain checks that hops follow from start, each the child of the one before, and returns the last.
func (tr jaegerTrace) chain(t *testing.T, start jaegerSpan, hops ...hop) jaegerSpan {
	t.Helper()
	for _, h := range hops {
		start = tr.child(t, start, h.service, h.name, h.kind)
	}
	return start
}

func (tr jaegerTrace) String() string {
	var lines []string
	for _, s := range tr.Spans {
		lines = append(lines, fmt.Sprintf("%s %s %q (%s, parent %s)", tr.Processes[s.ProcessID].ServiceName, s.tag("span.kind"), s.OperationName, s.SpanID, s.parent()))
	}
	slices.Sort(lines)
	return "\n  " + strings.Join(lines, "\n  ")
}

// waitTrace polls Jaeger until trace id holds spans of every one of services (spans arrive in
// batches, a second apart at most).
func waitTrace(t *testing.T, s *stack.Stack, id string, services ...string) jaegerTrace {
	t.Helper()
	var tr jaegerTrace
	err := stack.Eventually(20*time.Second, 200*time.Millisecond, func() error {
		rsp, err := http.Get(s.JaegerURL + "/api/traces/" + id)
		if err != nil {
			return err
		}
		defer rsp.Body.Close()
		var body struct {
			Data []jaegerTrace `json:"data"`
		}
		if err := json.NewDecoder(rsp.Body).Decode(&body); err != nil || rsp.StatusCode != 200 || len(body.Data) != 1 {
			return fmt.Errorf("trace %s: %s (%v)", id, rsp.Status, err)
		}
		tr = body.Data[0]
		have := map[string]bool{}
		for _, p := range tr.Processes {
			have[p.ServiceName] = true
		}
		for _, name := range services {
			if !have[name] {
				return fmt.Errorf("trace %s has no spans of %s yet: %s", id, name, tr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// waitLog waits for a line of the processes' output that holds every one of parts.
func waitLog(t *testing.T, parts ...string) {
	t.Helper()
	err := stack.Eventually(5*time.Second, 50*time.Millisecond, func() error {
		for _, line := range strings.Split(logs.String(), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return nil
			}
		}
		return fmt.Errorf("no log line with %q", parts)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// metricSum adds up every sample of metric at urls.
func metricSum(t *testing.T, urls []string, metric string) float64 {
	t.Helper()
	sum, err := stack.MetricSum(http.DefaultClient, urls, metric)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// p99 is the 99th percentile of latencies.
func p99(latencies []time.Duration) time.Duration {
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)*99/100]
}
