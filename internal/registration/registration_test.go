package registration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// fakeAgent is the part of Consul's agent API that Keep uses, with the token each call sent.
type fakeAgent struct {
	mu       sync.Mutex
	services map[string]json.RawMessage
	calls    []string // "METHOD path token"
	refuse   bool     // answer 403 to registrations
}

func (a *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Consul-Token"))
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/v1/agent/service/register":
		if a.refuse {
			http.Error(w, "Permission denied", http.StatusForbidden)
			return
		}
		var body struct{ ID string }
		raw := json.RawMessage{}
		json.NewDecoder(r.Body).Decode(&raw)
		json.Unmarshal(raw, &body)
		a.services[body.ID] = raw
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/agent/service/deregister/"):
		delete(a.services, strings.TrimPrefix(r.URL.Path, "/v1/agent/service/deregister/"))
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/agent/service/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/agent/service/")
		if _, ok := a.services[id]; !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"ID":"` + id + `"}`))
	default:
		http.NotFound(w, r)
	}
}

func (a *fakeAgent) registered(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.services[id]
	return ok
}

func (a *fakeAgent) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.services, id)
}

// TestKeep: registers at once with the token and a passing check, registers again after the
// agent forgot (a dev agent restarted), and deregisters when the context ends.
func TestKeep(t *testing.T) {
	agent := &fakeAgent{services: map[string]json.RawMessage{}}
	consul := httptest.NewServer(agent)
	defer consul.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Keep(ctx, Config{ConsulAddress: strings.TrimPrefix(consul.URL, "http://"), ConsulToken: "the-token",
			Name: "config-server", Address: "127.0.0.1:8888", HealthPath: "/actuator/health", CheckInterval: time.Second,
			Healthy: func() bool { return true }}, 20*time.Millisecond)
	}()
	const id = "config-server-127.0.0.1-8888"
	if err := stack.Until(5*time.Second, time.Millisecond, "registered", func() bool { return agent.registered(id) }); err != nil {
		t.Fatal(err)
	}
	agent.mu.Lock()
	var registration struct {
		Name, Address string
		Port          int
		Check         struct{ HTTP, Status string }
	}
	json.Unmarshal(agent.services[id], &registration)
	first := agent.calls[0]
	agent.mu.Unlock()
	if registration.Name != "config-server" || registration.Port != 8888 || registration.Check.HTTP != "http://127.0.0.1:8888/actuator/health" || registration.Check.Status != "passing" {
		t.Fatalf("registered %+v", registration)
	}
	if !strings.HasSuffix(first, " the-token") {
		t.Fatalf("the registration did not carry the token: %q", first)
	}
	agent.forget(id)
	if err := stack.Until(5*time.Second, time.Millisecond, "registered again after the agent forgot", func() bool { return agent.registered(id) }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if agent.registered(id) {
		t.Fatal("still registered after the context ended")
	}
}

// TestKeepRetriesRefusals: a refused registration (no rights yet: the ACL bootstrap has not
// run) is tried again until it works.
func TestKeepRetriesRefusals(t *testing.T) {
	agent := &fakeAgent{services: map[string]json.RawMessage{}, refuse: true}
	consul := httptest.NewServer(agent)
	defer consul.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Keep(ctx, Config{ConsulAddress: strings.TrimPrefix(consul.URL, "http://"), Name: "gateway", Address: "127.0.0.1:8080",
		HealthPath: "/health", CheckInterval: time.Second, Healthy: func() bool { return false }}, 20*time.Millisecond)
	if err := stack.Until(5*time.Second, time.Millisecond, "two refused attempts", func() bool {
		agent.mu.Lock()
		defer agent.mu.Unlock()
		return len(agent.calls) >= 2
	}); err != nil {
		t.Fatal(err)
	}
	agent.mu.Lock()
	agent.refuse = false
	agent.mu.Unlock()
	if err := stack.Until(5*time.Second, time.Millisecond, "registered once allowed", func() bool { return agent.registered("gateway-127.0.0.1-8080") }); err != nil {
		t.Fatal(err)
	}
}

func TestAdvertise(t *testing.T) {
	for _, tc := range []struct {
		configured, listen, want string
		err                      bool
	}{
		{"10.0.0.5:8080", ":8080", "10.0.0.5:8080", false},
		{"", "127.0.0.1:8888", "127.0.0.1:8888", false},
		{"", "127.0.0.1:0", "", true},
		{"no-port", ":8080", "", true},
	} {
		got, err := Advertise(tc.configured, tc.listen)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("Advertise(%q, %q) = %q, %v", tc.configured, tc.listen, got, err)
		}
	}
	if got, err := Advertise("", ":8080"); err != nil || strings.HasPrefix(got, ":") {
		t.Errorf("an unspecified host must become an address: %q, %v", got, err)
	}
}
