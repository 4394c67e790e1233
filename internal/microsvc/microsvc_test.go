package microsvc

import (
	"errors"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-micro/v2/registry/memory"
)

func TestHealthyOnlyHidesServicesWithoutNodes(t *testing.T) {
	mem := memory.NewRegistry()
	r := &healthyOnly{Registry: mem}
	if _, err := r.GetService("svc"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown service: %v", err)
	}
	// A service entry with no nodes, as Consul reports one whose only check is not passing yet.
	fake := fakeRegistry{Registry: mem, services: []*registry.Service{{Name: "svc", Version: "latest"}}}
	if _, err := (&healthyOnly{Registry: fake}).GetService("svc"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("service without nodes: %v", err)
	}
	if err := mem.Register(&registry.Service{Name: "svc", Version: "latest", Nodes: []*registry.Node{{Id: "n1", Address: "127.0.0.1:1"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetService("svc")
	if err != nil || len(got) != 1 || len(got[0].Nodes) != 1 {
		t.Fatalf("healthy service: %v %v", got, err)
	}
}

type fakeRegistry struct {
	registry.Registry
	services []*registry.Service
}

func (f fakeRegistry) GetService(string, ...registry.GetOption) ([]*registry.Service, error) {
	return f.services, nil
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		ttl, interval time.Duration
		ok            bool
	}{
		{10 * time.Second, 5 * time.Second, true},
		{10 * time.Second, 10 * time.Second, false},
		{5 * time.Second, 10 * time.Second, false},
		{0, 5 * time.Second, false},
		{10 * time.Second, 0, false},
	} {
		var c Config
		c.Registry.TTL, c.Registry.Interval = tc.ttl, tc.interval
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("ttl %s interval %s: %v, want ok=%v", tc.ttl, tc.interval, err, tc.ok)
		}
	}
}

func TestDeregisterIsIdempotentAndLeavingStopsRegistering(t *testing.T) {
	mem := memory.NewRegistry()
	r := &healthyOnly{Registry: mem}
	svc := &registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "n1", Address: "127.0.0.1:1"}}}
	if err := r.Register(svc); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(svc); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(svc); err != nil {
		t.Fatalf("second deregistration: %v", err)
	}
	r.leaving.Store(true)
	if err := r.Register(svc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService("svc"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a leaving service registered again: %v", err)
	}
}
