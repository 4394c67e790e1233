// Package events carries what happened to users between services, through a go-micro broker:
// the http broker (subscribers found through the registry) by default, NATS when an address is
// configured. Publishing never fails or slows the caller: events queue up and a background
// goroutine sends them; while the broker is unreachable they are dropped and counted.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"sync/atomic"
	"time"

	"github.com/micro/go-micro/v2/broker"
	httpbroker "github.com/micro/go-micro/v2/broker/http"
	natsbroker "github.com/micro/go-micro/v2/broker/nats"
	"github.com/micro/go-micro/v2/registry"
)

// Topics.
const (
	UserRegistered = "user.registered"
	UserLoggedIn   = "user.loggedin"
	// TokensRevoked tells gateways to read the revocations now. It is only a hint: they read
	// them from the user service, so a forged event costs a read and changes nothing.
	TokensRevoked = "auth.revoked"
	// UserDeleted tells user instances to forget a cached account (a forged one costs a query).
	UserDeleted = "user.deleted"
)

// UserEvent is the JSON body of every user event.
type UserEvent struct {
	UserID   uint64    `json:"user_id"`
	Username string    `json:"username"`
	At       time.Time `json:"at"`
}

// Config chooses the broker.
type Config struct {
	// Address is a NATS URL (nats://host:4222); empty means go-micro's http broker.
	Address string `mapstructure:"address" usage:"NATS URL for events, e.g. nats://127.0.0.1:4222 (empty: go-micro's http broker through the registry)"`
	// Listen is where the http broker takes events for this process's subscriptions.
	Listen string `mapstructure:"listen" default:"127.0.0.1:0" usage:"http broker: where events for this process arrive (containers set 0.0.0.0:0)"`
}

// NewBroker returns the broker c names for owner (a binary's name, a key of
// SubscriberTopics); the http broker finds subscribers through reg, and registers owner's under
// BrokerName(owner).
func NewBroker(c Config, reg registry.Registry, owner string) (broker.Broker, error) {
	if c.Address == "" {
		if _, ok := SubscriberTopics[owner]; !ok {
			return nil, fmt.Errorf("events: %q subscribes to nothing through the http broker", owner)
		}
		return httpbroker.NewBroker(broker.Registry(&ownedRegistry{Registry: reg, owner: owner}), broker.Addrs(c.Listen)), nil
	}
	if !strings.HasPrefix(c.Address, "nats://") && !strings.HasPrefix(c.Address, "tls://") {
		return nil, fmt.Errorf("broker.address %q: want nats://host:port", c.Address)
	}
	return natsbroker.NewBroker(broker.Addrs(c.Address)), nil
}

// Bus connects a broker in the background, retrying until it works, so that a broker outage
// at start delays events instead of stopping the service.
type Bus struct {
	broker    broker.Broker
	connected chan struct{}
	queue     chan *broker.Message
	dropped   atomic.Int64
}

// queueSize bounds the events waiting to be sent.
const queueSize = 1024

// Start connects b in the background and starts sending published events.
func Start(ctx context.Context, b broker.Broker) *Bus {
	bus := &Bus{broker: b, connected: make(chan struct{}), queue: make(chan *broker.Message, queueSize)}
	go bus.connect(ctx)
	go bus.send(ctx)
	return bus
}

func (b *Bus) connect(ctx context.Context) {
	wait := 100 * time.Millisecond
	for failures := 0; ; failures++ {
		err := b.broker.Connect()
		if err == nil {
			if failures > 0 {
				log.Printf("events: connected to the %s broker after %d failed attempts", b.broker.String(), failures)
			}
			close(b.connected)
			return
		}
		if failures == 0 {
			log.Printf("events: %s broker unreachable (%v); retrying in the background", b.broker.String(), err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Publish queues event on topic. It never blocks: with a full queue the event is dropped.
func (b *Bus) Publish(topic string, event UserEvent) {
	body, _ := json.Marshal(event)
	msg := &broker.Message{Header: map[string]string{"Content-Type": "application/json", "Topic": topic}, Body: body}
	select {
	case b.queue <- msg:
	default:
		b.drop("queue full")
	}
}

func (b *Bus) drop(why string) {
	if n := b.dropped.Add(1); n == 1 || n%1000 == 0 {
		log.Printf("events: dropped %d events so far (%s)", n, why)
	}
}

// Dropped is how many events could not be sent.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }

func (b *Bus) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-b.queue:
			select {
			case <-b.connected:
			default:
				b.drop("broker not connected")
				continue
			}
			if err := b.broker.Publish(msg.Header["Topic"], msg); err != nil {
				b.drop(err.Error())
			}
		}
	}
}

// Subscribe calls handle with every event on topic, once the broker is connected. Every
// subscriber gets every event (no queue group): each instance keeps a full view.
func (b *Bus) Subscribe(ctx context.Context, topic string, handle func(UserEvent)) {
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-b.connected:
		}
		_, err := b.broker.Subscribe(topic, func(e broker.Event) error {
			var event UserEvent
			if err := json.Unmarshal(e.Message().Body, &event); err != nil {
				log.Printf("events: %s: undecodable event: %v", topic, err)
				return nil
			}
			handle(event)
			return nil
		})
		if err != nil {
			log.Printf("events: subscribe %s: %v", topic, err)
		}
	}()
}

// Close disconnects the broker, if it ever connected.
func (b *Bus) Close() error {
	select {
	case <-b.connected:
		return b.broker.Disconnect()
	default:
		return nil
	}
}

// UserRegistered publishes a user.registered event.
func (b *Bus) UserRegistered(id uint64, username string) {
	b.Publish(UserRegistered, UserEvent{UserID: id, Username: username, At: time.Now().UTC()})
}

// UserLoggedIn publishes a user.loggedin event.
func (b *Bus) UserLoggedIn(id uint64, username string) {
	b.Publish(UserLoggedIn, UserEvent{UserID: id, Username: username, At: time.Now().UTC()})
}

// TokensRevoked publishes an auth.revoked event.
func (b *Bus) TokensRevoked(id uint64) {
	b.Publish(TokensRevoked, UserEvent{UserID: id, At: time.Now().UTC()})
}

// UserDeleted publishes a user.deleted event.
func (b *Bus) UserDeleted(id uint64) {
	b.Publish(UserDeleted, UserEvent{UserID: id, At: time.Now().UTC()})
}
