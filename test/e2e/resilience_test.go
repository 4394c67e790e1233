package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/users"
)

// TestKillUserUnderLoad: two user instances, 200 hellos a second for 10 s, one instance killed
// with SIGKILL (no deregistration) after 3 s. No request may fail or come back degraded.
func TestKillUserUnderLoad(t *testing.T) {
	s := ownStack(t, stack.Config{UserInstances: 2})
	l := newLoad(s.GatewayURL, newClient(t, s.GatewayURL).signup("kill_e2e"))
	l.run(200, 10*time.Second, 3*time.Second, func() { s.Users[1].Signal(syscall.SIGKILL) })
	if _, failed, degraded, _, _ := l.report(t, "kill -9 of one of two user instances"); failed != 0 || degraded != 0 {
		t.Fatalf("%d failed and %d degraded requests", failed, degraded)
	}
}

// TestSIGTERMUnderLoad: an instance told to stop leaves without failing a request.
func TestSIGTERMUnderLoad(t *testing.T) {
	s := ownStack(t, stack.Config{UserInstances: 2, GreeterInstances: 2})
	l := newLoad(s.GatewayURL, newClient(t, s.GatewayURL).signup("sigterm_e2e"))
	stopped := make(chan time.Duration, 2)
	stop := func(p *stack.Process) {
		began := time.Now()
		p.Signal(syscall.SIGTERM)
		<-p.Done()
		stopped <- time.Since(began)
	}
	l.run(200, 8*time.Second, 2*time.Second, func() {
		go stop(s.Users[1])
		stop(s.Greeters[1])
	})
	if _, failed, degraded, _, _ := l.report(t, "SIGTERM to one of two user and one of two greeter instances"); failed != 0 || degraded != 0 {
		t.Fatalf("%d failed and %d degraded requests", failed, degraded)
	}
	for _, p := range []*stack.Process{s.Users[1], s.Greeters[1]} {
		if _, err := p.Exited(); err != nil {
			t.Errorf("%s exit after SIGTERM: %v", p.Name, err)
		}
	}
	t.Logf("the instances exited %s and %s after SIGTERM", (<-stopped).Round(time.Millisecond), (<-stopped).Round(time.Millisecond))
}

// TestBreakerOpensAndCloses: with every user instance gone the breaker opens within its
// window, hellos are answered degraded and fast, the dashboard shows the circuit OPEN; with a
// user instance back, the breaker closes after its sleep window.
func TestBreakerOpensAndCloses(t *testing.T) {
	s := ownStack(t, stack.Config{Env: []string{"BREAKER_SLEEP_WINDOW=2s"}})
	token := newClient(t, s.GatewayURL).signup("breaker_e2e")
	warm := newLoad(s.GatewayURL, token)
	warm.run(50, time.Second, 0, nil)
	var browser *browser
	if b, ok := startBrowser(t); ok {
		browser = b
		browser.open(s.BreakerURLs[0])
		browser.waitFor(t, cardSelector, "state", "CLOSED")
	}

	if err := s.User.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.User.Done()
	killed := time.Now()
	down := newLoad(s.GatewayURL, token)
	done := make(chan struct{})
	go func() { down.run(50, 4*time.Second, 0, nil); close(done) }()
	opened := waitCircuit(t, s.BreakerURLs[0], true)
	t.Logf("breaker open %s after the user service died", opened.Sub(killed).Round(time.Millisecond))
	<-done
	if _, failed, degraded, _, _ := down.report(t, "user service down, while the breaker opens"); failed != 0 || degraded == 0 {
		t.Fatalf("%d failed, %d degraded: every hello must be answered, degraded", failed, degraded)
	}
	open := newLoad(s.GatewayURL, token)
	open.run(50, 2*time.Second, 0, nil)
	// An open breaker answers without calling: far sooner than the greeter's 1 s call timeout
	// that a closed one would wait out for a dead service (a quarter of it leaves room for a
	// loaded machine).
	if sent, failed, degraded, _, p99 := open.report(t, "breaker open"); sent == 0 || failed != 0 || degraded != sent || p99 > 250*time.Millisecond {
		t.Fatalf("with the breaker open: %d failed, %d of %d degraded, p99 %s (want all degraded, p99 under 250ms)", failed, degraded, sent, p99)
	}
	if browser != nil {
		browser.waitFor(t, cardSelector, "state", "OPEN")
		t.Log("the dashboard in headless Chromium shows the circuit OPEN")
	}

	back, err := s.StartService("user", []string{"REGISTRY_ADDRESS=" + s.ConsulAddress, "JWT_SECRET=" + s.JWTSecret, "CONFIG_FAIL_FAST=true"},
		"--database_dsn", s.DatabaseDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Stop(5 * time.Second) })
	if err := stack.Eventually(10*time.Second, 20*time.Millisecond, func() error {
		if n := passingInstances(t, s, "go.micro.api.user"); n < 1 {
			return fmt.Errorf("no user instance passing")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	c := newClient(t, s.GatewayURL)
	if err := stack.Eventually(15*time.Second, 50*time.Millisecond, func() error {
		if a := c.hello(token, "Bob"); a.Status != 200 || a.Body["degraded"] == true {
			return fmt.Errorf("still degraded: %s", a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	closed := waitCircuit(t, s.BreakerURLs[0], false)
	t.Logf("breaker closed %s after a user instance was back (sleep window 2s)", closed.Sub(returned).Round(time.Millisecond))
	if browser != nil {
		browser.waitFor(t, cardSelector, "state", "CLOSED")
	}
}

var cardSelector = `[data-command="` + users.GetUserInfoCommand + `"]`

// waitCircuit reads the greeter's Hystrix stream until the user command's circuit is open (or
// closed) and returns when it saw that.
func waitCircuit(t *testing.T, dashboard string, open bool) time.Time {
	t.Helper()
	rsp, err := http.Get(dashboard + "hystrix.stream")
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(rsp.Body)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-deadline:
			t.Fatalf("the circuit did not become open=%v within 20s", open)
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			var e struct {
				Type, Name string
				Open       bool `json:"isCircuitBreakerOpen"`
			}
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "data:")), &e) == nil && e.Type == "HystrixCommand" &&
				e.Name == users.GetUserInfoCommand && e.Open == open {
				return time.Now()
			}
		}
	}
}

// TestConsulOutage: with Consul down for 10 s the system keeps routing from its caches; with
// Consul back (empty, as a restarted dev agent is) every service registers again within its
// re-registration interval.
func TestConsulOutage(t *testing.T) {
	s := ownStack(t, stack.Config{})
	l := newLoad(s.GatewayURL, newClient(t, s.GatewayURL).signup("consul_e2e"))
	l.run(20, time.Second, 0, nil)
	if err := s.Consul.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	l.run(50, 10*time.Second, 0, nil)
	if _, failed, degraded, _, _ := l.report(t, "10s without Consul"); failed != 0 || degraded != 0 {
		t.Fatalf("%d failed and %d degraded requests while Consul was down", failed, degraded)
	}
	if err := s.StartConsul(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("Consul down for %s", back.Sub(stoppedAt).Round(time.Millisecond))
	registered := map[string]time.Duration{}
	err := stack.Eventually(15*time.Second, 20*time.Millisecond, func() error {
		for _, name := range stack.ServiceNames {
			if _, seen := registered[name]; !seen && passingInstances(t, s, name) > 0 {
				registered[name] = time.Since(back)
			}
		}
		if len(registered) < len(stack.ServiceNames) {
			return fmt.Errorf("registered again so far: %v", registered)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stack.ServiceNames {
		t.Logf("%s registered again %s after Consul came back", name, registered[name].Round(time.Millisecond))
		// Every service checks its registration every 5 s: it must be back within two checks,
		// not only when some later event makes it register.
		if registered[name] > 10*time.Second {
			t.Errorf("%s took %s to register again; it checks every 5s", name, registered[name])
		}
	}
	c := newClient(t, s.GatewayURL)
	if a := c.hello(c.signup("consul_after_e2e"), "Bob"); a.Status != 200 || a.Body["degraded"] == true {
		t.Fatalf("after the outage: %d %s", a.Status, a.Raw)
	}
}

// ownStack starts a stack for one test and stops it when the test ends.
func ownStack(t *testing.T, c stack.Config) *stack.Stack {
	t.Helper()
	c.ConfigRepo = filepath.Join(repoRoot, "config-repo")
	c.DatabaseDSN = filepath.Join(t.TempDir(), "user.db")
	s, err := startStackWith(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}
