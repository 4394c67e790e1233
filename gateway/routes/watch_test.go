package routes

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-micro/v2/registry/memory"

	"github.com/gomicro-stack/gomicro-stack/internal/names"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
)

// greeterAt is the greeter at version as it registers, with one node per id.
func greeterAt(version string, ids ...string) *registry.Service {
	s := &registry.Service{Name: names.Greeter, Version: version}
	for _, e := range registered(greeterpb.File_greeter_greeter_proto) {
		s.Endpoints = append(s.Endpoints, &registry.Endpoint{Name: e.Name, Metadata: map[string]string{"method": e.Method, "path": e.Path}})
	}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{Id: id, Address: "127.0.0.1:1"})
	}
	return s
}

// unreadable answers Reflection.Files for every version but the ones it is told are down.
type unreadable struct {
	mu   sync.Mutex
	down map[string]bool
	// failing: how many more reads of a version fail before it answers.
	failing map[string]int
}

func (u *unreadable) set(version string, down bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.down[version] = down
}

func (u *unreadable) fetch(_ context.Context, _, version string) ([][]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failing[version] > 0 {
		u.failing[version]--
		return nil, errors.New("no node answered")
	}
	if u.down[version] {
		return nil, errors.New("no node answered")
	}
	return filesOf(greeterpb.File_greeter_greeter_proto), nil
}

func TestRoutesFollowTheRegistry(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before is registered and read first; then after replaces it (nil: deregistered).
		before, after *registry.Service
		down          []string // versions whose API cannot be read after
		want          bool     // /greeter/hello is a route after
		available     bool
	}{
		{name: "a new version read", before: greeterAt("v1", "a"), after: greeterAt("v2", "b"), want: true, available: true},
		// While Consul elects a leader (the cluster test) or a new version's nodes are busy, a
		// version may not be readable: what the service served stays served.
		{name: "a version that cannot be read keeps the routes served", before: greeterAt("v1", "a"), after: greeterAt("v2", "b"), down: []string{"v2"}, want: true, available: true},
		{name: "nothing to keep: no route", before: nil, after: greeterAt("v2", "b"), down: []string{"v2"}, want: false},
		{name: "the last instance left: 503 for the grace", before: greeterAt("v1", "a"), after: nil, want: true, available: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := memory.NewRegistry()
			fetch := &unreadable{down: map[string]bool{}}
			w := &Watcher{Registry: reg, Namespace: names.Namespace, Fetch: fetch.fetch, Grace: time.Minute, Table: NewTable()}
			if tc.before != nil {
				if err := reg.Register(tc.before); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, ok := w.Table.Lookup("/greeter/hello"); ok != (tc.before != nil) {
				t.Fatalf("before: /greeter/hello routed %t", ok)
			}
			if tc.before != nil {
				if err := reg.Deregister(tc.before); err != nil {
					t.Fatal(err)
				}
			}
			if tc.after != nil {
				if err := reg.Register(tc.after); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range tc.down {
				fetch.set(v, true)
			}
			w.refresh(context.Background(), names.Greeter)
			r, ok := w.Table.Lookup("/greeter/hello")
			if ok != tc.want {
				t.Fatalf("after: /greeter/hello routed %t, want %t", ok, tc.want)
			}
			if ok && r.Available() != tc.available {
				t.Fatalf("after: available %t, want %t", r.Available(), tc.available)
			}
		})
	}
}

// TestAVersionNotReadIsAskedAgain: a gateway that could not read a service's API (it started
// beside the service) routes it as soon as it can, without waiting for the registry to change.
func TestAVersionNotReadIsAskedAgain(t *testing.T) {
	reg := memory.NewRegistry()
	fetch := &unreadable{down: map[string]bool{"v1": true}}
	w := &Watcher{Registry: reg, Namespace: names.Namespace, Fetch: fetch.fetch, Grace: time.Minute, Table: NewTable(), Retry: 10 * time.Millisecond}
	if err := reg.Register(greeterAt("v1", "a")); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Table.Lookup("/greeter/hello"); ok {
		t.Fatal("routed before its API was read")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	fetch.set("v1", false)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := w.Table.Lookup("/greeter/hello"); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a version not read was not asked again within 10s")
		}
	}
}

// TestSettleReadsEveryAPIBeforeServing: a gateway starting while a service's nodes are busy
// (a rolling upgrade) asks again until it has read every API, so that its first request finds
// every route; a service that never answers holds it only until the deadline, named.
func TestSettleReadsEveryAPIBeforeServing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failing int  // reads that fail first
		down    bool // every read fails
	}{
		{name: "read on the third try", failing: 2},
		{name: "never read", down: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := memory.NewRegistry()
			if err := reg.Register(greeterAt("v1", "a")); err != nil {
				t.Fatal(err)
			}
			fetch := &unreadable{down: map[string]bool{"v1": tc.down}, failing: map[string]int{"v1": tc.failing}}
			w := &Watcher{Registry: reg, Namespace: names.Namespace, Fetch: fetch.fetch, Grace: time.Minute, Table: NewTable(), Retry: 10 * time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := w.Settle(ctx)
			_, routed := w.Table.Lookup("/greeter/hello")
			if tc.down {
				if err == nil || !strings.Contains(err.Error(), names.Greeter) || routed {
					t.Fatalf("a service that never answers: %v, routed %t", err, routed)
				}
				return
			}
			if err != nil || !routed {
				t.Fatalf("settled: %v, routed %t", err, routed)
			}
		})
	}
}

// TestSettleDoesNotHammerAFailingRegistry: a service not read yet while the registry itself
// fails is asked again a second later, not in a loop.
func TestSettleDoesNotHammerAFailingRegistry(t *testing.T) {
	reg := &failingRegistry{Registry: memory.NewRegistry()}
	if err := reg.Register(greeterAt("v1", "a")); err != nil {
		t.Fatal(err)
	}
	fetch := &unreadable{down: map[string]bool{"v1": true}}
	w := &Watcher{Registry: reg, Namespace: names.Namespace, Fetch: fetch.fetch, Grace: time.Minute, Table: NewTable(), Retry: time.Millisecond}
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg.failing.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	w.Settle(ctx)
	if n := reg.reads.Load(); n > 4 {
		t.Fatalf("%d reads of a failing registry in 1.5 s", n)
	}
}

type failingRegistry struct {
	registry.Registry
	failing atomic.Bool
	reads   atomic.Int64
}

func (r *failingRegistry) GetService(name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if r.failing.Load() {
		r.reads.Add(1)
		return nil, errors.New("no cluster leader")
	}
	return r.Registry.GetService(name, opts...)
}
