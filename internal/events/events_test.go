package events

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/broker"
	"github.com/micro/go-micro/v2/broker/memory"
	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-micro/v2/registry/cache"
	memregistry "github.com/micro/go-micro/v2/registry/memory"

	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

type received struct {
	mu     sync.Mutex
	events []UserEvent
}

func (r *received) add(e UserEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func TestPublishAndSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := Start(ctx, memory.NewBroker())
	defer bus.Close()
	var logins, revoked received
	bus.Subscribe(ctx, UserLoggedIn, logins.add)
	bus.Subscribe(ctx, TokensRevoked, revoked.add)
	<-bus.connected
	// Subscriptions are made in the background once connected: publish until one arrives.
	if err := stack.Until(5*time.Second, time.Millisecond, "the first login event", func() bool {
		bus.UserLoggedIn(7, "alice")
		return logins.len() > 0
	}); err != nil {
		t.Fatal(err)
	}
	bus.TokensRevoked(7)
	bus.UserDeleted(7)
	if err := stack.Until(5*time.Second, time.Millisecond, "the revocation event", func() bool { return revoked.len() == 1 }); err != nil {
		t.Fatal(err)
	}
	logins.mu.Lock()
	first := logins.events[0]
	logins.mu.Unlock()
	if first.UserID != 7 || first.Username != "alice" || first.At.IsZero() {
		t.Fatalf("event %+v", first)
	}
	if bus.Dropped() != 0 {
		t.Fatalf("%d events dropped", bus.Dropped())
	}
}

// TestUndecodableEventsAreIgnored: a subscriber survives a body that is not an event.
func TestUndecodableEventsAreIgnored(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := memory.NewBroker()
	bus := Start(ctx, b)
	defer bus.Close()
	var got received
	bus.Subscribe(ctx, UserDeleted, got.add)
	<-bus.connected
	if err := stack.Until(5*time.Second, time.Millisecond, "a good event after garbage", func() bool {
		b.Publish(UserDeleted, &broker.Message{Body: []byte("not json")})
		bus.UserDeleted(3)
		return got.len() > 0
	}); err != nil {
		t.Fatal(err)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, e := range got.events {
		if e.UserID != 3 {
			t.Fatalf("garbage became an event: %+v", e)
		}
	}
}

// downBroker never connects.
type downBroker struct{ broker.Broker }

func (downBroker) Connect() error { return errors.New("connection refused") }
func (downBroker) String() string { return "down" }

// TestPublishNeverBlocks: with the broker unreachable, publishing returns at once and the
// events are counted as dropped, never queued without bound.
func TestPublishNeverBlocks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := Start(ctx, downBroker{})
	began := time.Now()
	for i := 0; i < 3*queueSize; i++ {
		bus.UserLoggedIn(uint64(i), "bob")
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("%d publishes took %s", 3*queueSize, took)
	}
	if err := stack.Until(5*time.Second, time.Millisecond, "every event dropped", func() bool { return bus.Dropped() == 3*queueSize }); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatalf("closing a bus that never connected: %v", err)
	}
}

func TestNewBroker(t *testing.T) {
	for _, tc := range []struct {
		address, want string
		err           bool
	}{
		{"", "http", false},
		{"nats://127.0.0.1:4222", "nats", false},
		{"http://127.0.0.1:4222", "", true},
	} {
		b, err := NewBroker(Config{Address: tc.address, Listen: "127.0.0.1:0"}, nil, "gateway")
		if (err != nil) != tc.err || (err == nil && b.String() != tc.want) {
			t.Errorf("%q: %v, %v", tc.address, b, err)
		}
	}
}

// TestSubscriptionsAreOwned: each binary's http broker registers its subscriptions under a
// name of its own, and a publisher believes of each owner only the topics it subscribes to:
// a subscription of the gateway's topic registered as the greeter's is never sent to.
func TestSubscriptionsAreOwned(t *testing.T) {
	reg := memregistry.NewRegistry()
	node := func(id, topic string) *registry.Node {
		return &registry.Node{Id: id, Address: "127.0.0.1:1", Metadata: map[string]string{"broker": "http", "topic": topic}}
	}
	gateway := &ownedRegistry{Registry: reg, owner: "gateway"}
	greeter := &ownedRegistry{Registry: reg, owner: "greeter"}
	if err := gateway.Register(&registry.Service{Name: names.HTTPBroker, Nodes: []*registry.Node{node("gw-1", TokensRevoked)}}); err != nil {
		t.Fatal(err)
	}
	if err := greeter.Register(&registry.Service{Name: names.HTTPBroker, Nodes: []*registry.Node{node("rogue", TokensRevoked), node("gr-1", UserLoggedIn)}}); err != nil {
		t.Fatal(err)
	}
	if s, err := reg.GetService(names.BrokerOf("gateway")); err != nil || len(s) != 1 || s[0].Nodes[0].Id != "gw-1" {
		t.Fatalf("the gateway's subscriptions: %v %v", s, err)
	}
	user := &ownedRegistry{Registry: reg, owner: "user"}
	services, err := user.GetService(names.HTTPBroker)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, s := range services {
		for _, n := range s.Nodes {
			seen = append(seen, n.Id+" "+n.Metadata["topic"])
		}
	}
	slices.Sort(seen)
	if want := []string{"gr-1 " + UserLoggedIn, "gw-1 " + TokensRevoked}; !slices.Equal(seen, want) {
		t.Fatalf("a publisher sees %v, want %v", seen, want)
	}
}

// TestPublishersSeeEachSubscriberOnce: the http broker reads the subscribers through go-micro's
// registry cache, which merges a watch's news into its entry of the same version; every owner's
// subscriptions share one version, so they must be one entry, or news about one owner's
// subscriber is merged into another's and that subscriber gets every event twice.
func TestPublishersSeeEachSubscriberOnce(t *testing.T) {
	reg := memregistry.NewRegistry()
	owned := func(owner string) *ownedRegistry { return &ownedRegistry{Registry: reg, owner: owner} }
	subscribe := func(owner, id, topic string) {
		s := &registry.Service{Name: names.HTTPBroker, Version: "ff.http.broadcast", Nodes: []*registry.Node{{Id: id, Address: "127.0.0.1:1",
			Metadata: map[string]string{"broker": "http", "topic": topic}}}}
		if err := owned(owner).Register(s); err != nil {
			t.Fatal(err)
		}
	}
	subscribe("greeter", "greeter-1", UserLoggedIn)
	subscribe("gateway", "gateway-1", TokensRevoked)
	subscribe("user", "user-1", UserDeleted)
	publisher := cache.New(owned("user"))
	defer publisher.Stop()
	count := func() map[string]int {
		services, err := publisher.GetService(names.HTTPBroker)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, s := range services {
			for _, n := range s.Nodes {
				seen[n.Id]++
			}
		}
		return seen
	}
	count() // fills the cache and starts its watch (after a jitter of up to 100 ms)
	// News of each owner's subscriber, as the TTL refreshes bring them, for longer than the
	// cache takes to start watching.
	owners := []string{"gateway", "user", "greeter"}
	for i := 0; i < 60; i++ {
		owner := owners[i%3]
		subscribe(owner, owner+"-1", SubscriberTopics[owner][0])
		time.Sleep(5 * time.Millisecond)
		if seen := count(); seen["greeter-1"] > 1 || seen["gateway-1"] > 1 || seen["user-1"] > 1 {
			t.Fatalf("after news of %s's subscriber a publisher sees %v", owner, seen)
		}
	}
	if seen := count(); seen["greeter-1"] != 1 || seen["gateway-1"] != 1 || seen["user-1"] != 1 {
		t.Fatalf("a publisher sees %v", seen)
	}
	// What the cache merges news into: one entry per version.
	services, err := owned("user").GetService(names.HTTPBroker)
	if err != nil || len(services) != 1 || len(services[0].Nodes) != 3 {
		t.Fatalf("the subscribers as one version: %d entries (%v)", len(services), err)
	}
}
