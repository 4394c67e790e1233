package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/consulacl"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// TestANewServiceIsRoutedThroughTheRegistry: a service the gateway was not built with
// (test/e2e/echo), started after the gateway, is served through it within 10 s, with the
// types, rules and options its own proto declares: 401 without a token, 400 for a body
// against its rules, its 201 typed JSON with one, its breaker in the gateway's metrics. Its
// claim on another service's path is refused. Without its own Consul token it cannot register.
// When it stops, its routes answer 503 for route_grace, then 404.
func TestANewServiceIsRoutedThroughTheRegistry(t *testing.T) {
	s := ownStack(t, stack.Config{Env: []string{"GATEWAY_ROUTE_GRACE=2s"}})
	c := newClient(t, s.GatewayURL)
	token := c.signup("echoer_e2e")
	say := func(body string, headers ...string) answer { return c.do("POST", "/echo/say", body, headers...) }
	if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 404 {
		t.Fatalf("before the echo service exists: %d %s, want 404", a.Status, a.Raw)
	}

	bin := filepath.Join(t.TempDir(), "echo")
	if out, err := exec.Command("go", "build", "-o", bin, "./echo").CombinedOutput(); err != nil {
		t.Fatalf("build the echo service: %v\n%s", err, out)
	}
	consul, err := consulapi.NewClient(&consulapi.Config{Address: s.ConsulAddress, Token: s.ConsulManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := consulacl.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	service := names.Namespace + ".echo"
	if err := consulacl.Apply(consul, []consulacl.Grant{{Name: "echo", Writes: []string{service, names.BrokerOf("echo")}, Secret: secret}}); err != nil {
		t.Fatal(err)
	}
	env := []string{"REGISTRY_ADDRESS=" + s.ConsulAddress, "INTERNAL_AUTH_PUBLIC_KEYS=" + s.InternalPublicKey}

	// With another binary's token, no registration of its name is accepted.
	asGreeter, err := consulapi.NewClient(&consulapi.Config{Address: s.ConsulAddress, Token: s.ConsulTokens["greeter"]})
	if err != nil {
		t.Fatal(err)
	}
	rogue := &consulapi.AgentServiceRegistration{ID: "echo-rogue", Name: service, Address: "127.0.0.1", Port: 1}
	if err := asGreeter.Agent().ServiceRegister(rogue); err == nil || !strings.Contains(err.Error(), "403") {
		consul.Agent().ServiceDeregister(rogue.ID)
		t.Fatalf("the greeter's token registered %s: %v", service, err)
	}

	started := time.Now()
	echo, err := s.StartBinary("echo", bin, append(env, "REGISTRY_TOKEN="+secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Stop(5 * time.Second) })
	if err := stack.Eventually(10*time.Second, 50*time.Millisecond, func() error {
		if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 201 {
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatalf("the echo service's route through the gateway started before it: %v", err)
	}
	t.Logf("the echo service's route answered %s after it started", time.Since(started).Round(time.Millisecond))

	a := say(`{"text":"héllo"}`, "Authorization: Bearer "+token)
	if a.Status != 201 || a.Raw != `{"code":0,"message":"ok","text":"héllo","caller":"echoer_e2e","length":5}` {
		t.Fatalf("typed answer: %d %s", a.Status, a.Raw)
	}
	expectError(t, say(`{"text":"hi"}`), 401, "please login")
	if a := say(`{"text":""}`, "Authorization: Bearer "+token); a.Status != 400 || a.Str("reason") != "INVALID_ARGUMENT" || !strings.Contains(a.Str("message"), "text: value length must be between 1 and 100 runes") {
		t.Fatalf("a body against the echo proto's rule: %d %s", a.Status, a.Raw)
	}
	if a := say(`{"text":"hi","Text":"x"}`, "Authorization: Bearer "+token); a.Status != 400 {
		t.Fatalf("another spelling of a key: %d %s", a.Status, a.Raw)
	}
	// Its claim on /user/login is refused: the login still goes to the user service.
	if a := c.login("echoer_e2e", "password-echoer_e2e"); a.Status != 200 || a.Str("token") == "" {
		t.Fatalf("login while the echo service claims its path: %d %s", a.Status, a.Raw)
	}
	metrics := get(t, s.GatewayMetricsURL)
	if !strings.Contains(metrics, `gomicro_breaker_open{command="go.micro.api.echo.Echo.Say"} 0`) {
		t.Fatalf("no breaker of Echo.Say in the gateway's metrics:\n%s", grepLines(metrics, "gomicro_breaker_open"))
	}

	// It stops: 503 for the grace, then 404.
	if err := echo.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 503 && a.Status != 404 {
		t.Fatalf("right after the echo service stopped: %d %s", a.Status, a.Raw)
	}
	if err := stack.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 404 {
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatalf("the echo route after the service stopped: %v", err)
	}
	t.Logf("its route went %s after it stopped (route_grace 2s)", time.Since(stopped).Round(time.Millisecond))
}

func get(t *testing.T, url string) string {
	t.Helper()
	rsp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return string(b)
}

func grepLines(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
