package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// TestSIGTERMDeregisters: a service told to stop leaves Consul at once, not after its TTL.
func TestSIGTERMDeregisters(t *testing.T) {
	extra, err := shared.StartService("user", []string{
		"REGISTRY_ADDRESS=" + shared.ConsulAddress, "JWT_SECRET=" + shared.JWTSecret,
	}, "--database_dsn", shared.DatabaseDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { extra.Stop(5 * time.Second) })
	if err := stack.Eventually(10*time.Second, 20*time.Millisecond, func() error {
		if n, err := countPassing(shared, "go.micro.api.user"); err != nil || n != 2 {
			return fmt.Errorf("%d passing user instances (%v), want 2", n, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	sent := time.Now()
	if err := extra.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := stack.Eventually(time.Second, 10*time.Millisecond, func() error {
		if n, err := countPassing(shared, "go.micro.api.user"); err != nil || n != 1 {
			return fmt.Errorf("%d passing user instances (%v), want 1", n, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("not deregistered within 1s of SIGTERM: %v", err)
	}
	t.Logf("deregistered %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	select {
	case <-extra.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the instance did not exit after SIGTERM")
	}
	if _, err := extra.Exited(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestBackendsDown runs its own stack and takes it apart: each dead backend answers quickly,
// degraded or 503 with a JSON envelope, never a hang.
func TestBackendsDown(t *testing.T) {
	s, err := startStack(filepath.Join(t.TempDir(), "outage"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	c := newClient(t, s.GatewayURL)
	token := c.signup("outage_e2e")

	// User killed without a chance to deregister: Consul still lists it, the greeter's call
	// fails and its fallback answers from the token.
	if err := s.User.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.User.Done()
	began := time.Now()
	a := c.hello(token, "Bob")
	if a.Status != 200 || a.Body["degraded"] != true || a.Str("username") != "outage_e2e" || a.Body["id"] != nil {
		t.Fatalf("hello with the user service down: %d %s", a.Status, a.Raw)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("the degraded answer took %s", d)
	}
	// Login goes straight to the dead user service: the gateway's own call fails.
	login := c.login("outage_e2e", "password-outage_e2e")
	expectError(t, login, 503, "service unavailable")
	if login.Body["reason"] != "UNAVAILABLE" || login.Header.Get("Retry-After") == "" {
		t.Fatalf("login with the user service down: %s, Retry-After %q; want reason UNAVAILABLE", login.Raw, login.Header.Get("Retry-After"))
	}

	// Greeter stopped and deregistered: the route has no instance.
	if err := s.Greeter.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	a = c.hello(token, "Bob")
	expectError(t, a, 503, "service unavailable")
	if a.Body["reason"] != "UNAVAILABLE" {
		t.Fatalf("hello with the greeter gone: %s, want reason UNAVAILABLE", a.Raw)
	}
	if strings.Contains(a.Raw, "go.micro") {
		t.Fatalf("internal names leak: %s", a.Raw)
	}
}

// TestGatewayPortTakenSaysWhy: a gateway that cannot listen exits with status 1 and says why
// (micro reports it through go-micro's logger, which prints to the stdout the gateway silences).
func TestGatewayPortTakenSaysWhy(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p, err := shared.StartService("gateway", []string{"REGISTRY_ADDRESS=127.0.0.1:1", "JWT_SECRET=" + shared.JWTSecret},
		"--config_enabled=false", "--http_address", taken.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		p.Stop(time.Second)
		t.Fatal("the gateway still runs on a port that is taken")
	}
	if _, err := p.Exited(); err == nil || !strings.Contains(err.Error(), "exit status 1") ||
		!strings.Contains(err.Error(), "bind: address already in use") {
		t.Fatalf("exit: %v", err)
	}
}
