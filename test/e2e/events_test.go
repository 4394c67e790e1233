package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// expectLogins logs username in n times and waits until hello reports n logins: the user
// service published user.loggedin, the greeter received it.
func expectLogins(t *testing.T, gatewayURL, username string, n int) time.Duration {
	t.Helper()
	c := newClient(t, gatewayURL)
	token := c.signup(username) // one login
	for i := 1; i < n; i++ {
		if a := c.login(username, "password-"+username); a.Status != 200 {
			t.Fatalf("login: %d %s", a.Status, a.Raw)
		}
	}
	loggedIn := time.Now()
	err := stack.Eventually(10*time.Second, 20*time.Millisecond, func() error {
		a := c.hello(token, "Bob")
		if got, _ := a.Body["logins"].(float64); int(got) != n {
			return fmt.Errorf("hello reports %v logins, want %d: %s", a.Body["logins"], n, a.Raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(loggedIn)
}

// TestEventsThroughTheDefaultBroker: go-micro's http broker, subscribers found in Consul.
func TestEventsThroughTheDefaultBroker(t *testing.T) {
	d := expectLogins(t, shared.GatewayURL, "events_http_e2e", 3)
	t.Logf("3 logins counted by the greeter %s after the last one (http broker)", d.Round(time.Millisecond))
}

// TestEventsThroughNATS uses the NATS server TEST_NATS_URL names (CI sets the machine's).
func TestEventsThroughNATS(t *testing.T) {
	url := os.Getenv("TEST_NATS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_NATS_URL is not set")
		}
		t.Skip("TEST_NATS_URL not set (e.g. nats://127.0.0.1:4222)")
	}
	s := ownStack(t, stack.Config{Env: []string{"BROKER_ADDRESS=" + url}})
	d := expectLogins(t, s.GatewayURL, "events_nats_e2e", 2)
	t.Logf("2 logins counted by the greeter %s after the last one (NATS at %s)", d.Round(time.Millisecond), url)
}

// TestNATSDownLoginsWork runs a NATS server of its own, then stops it: logins go on working.
func TestNATSDownLoginsWork(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nats-server is missing")
		}
		t.Skip("nats-server not installed")
	}
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nats := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := nats.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nats.Process.Kill(); nats.Wait() })
	address := "127.0.0.1:" + strconv.Itoa(port)
	if err := stack.Eventually(10*time.Second, 20*time.Millisecond, func() error {
		conn, err := net.Dial("tcp", address)
		if err == nil {
			conn.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s := ownStack(t, stack.Config{Env: []string{"BROKER_ADDRESS=nats://" + address}})
	expectLogins(t, s.GatewayURL, "nats_down_e2e", 1)

	nats.Process.Kill()
	nats.Wait()
	c := newClient(t, s.GatewayURL)
	for i := 0; i < 5; i++ {
		began := time.Now()
		if a := c.login("nats_down_e2e", "password-nats_down_e2e"); a.Status != 200 || a.Str("token") == "" {
			t.Fatalf("login with NATS down: %d %s", a.Status, a.Raw)
		}
		if d := time.Since(began); d > time.Second {
			t.Fatalf("login with NATS down took %s", d)
		}
	}
	if a := c.register("nats_down_new_e2e", "password-long"); a.Status != 201 {
		t.Fatalf("register with NATS down: %d %s", a.Status, a.Raw)
	}
}
