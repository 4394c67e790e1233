// Package clientv3 provides the names of etcd's v3 client that go-micro v2's etcd registry
// uses, and nothing that works: New always fails, and every method of a Client fails too (a
// Client can only be the nil pointer go-micro keeps when New failed).
package clientv3

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/coreos/etcd/mvcc/mvccpb"
)

// ErrNotBuilt is what every call answers.
var ErrNotBuilt = errors.New("the etcd registry is not part of this build; use consul")

// Config is the client configuration go-micro fills in.
type Config struct {
	Endpoints   []string
	DialTimeout time.Duration
	TLS         *tls.Config
	Username    string
	Password    string
	LogConfig   *zap.Config
}

// New fails: there is no etcd client in this build.
func New(Config) (*Client, error) { return nil, ErrNotBuilt }

// Client is never made.
type Client struct{}

// LeaseID identifies a lease.
type LeaseID int64

// Op is a request's options.
type Op struct{}

// OpOption sets an option of a request.
type OpOption func(*Op)

// WithLease attaches a put to a lease.
func WithLease(LeaseID) OpOption { return func(*Op) {} }

// WithPrefix makes a request cover every key with the prefix.
func WithPrefix() OpOption { return func(*Op) {} }

// WithPrevKV returns the previous value with a watch event.
func WithPrevKV() OpOption { return func(*Op) {} }

// WithSerializable allows a read from any member.
func WithSerializable() OpOption { return func(*Op) {} }

// GetResponse is the answer to Get.
type GetResponse struct{ Kvs []*mvccpb.KeyValue }

// PutResponse is the answer to Put.
type PutResponse struct{}

// DeleteResponse is the answer to Delete.
type DeleteResponse struct{}

// LeaseGrantResponse is the answer to Grant.
type LeaseGrantResponse struct {
	ID  LeaseID
	TTL int64
}

// LeaseKeepAliveResponse is the answer to KeepAliveOnce.
type LeaseKeepAliveResponse struct {
	ID  LeaseID
	TTL int64
}

// EventType says whether a watch event is a put or a delete.
type EventType int32

// The event types.
const (
	EventTypePut    EventType = 0
	EventTypeDelete EventType = 1
)

// Event is a change a watch reports.
type Event struct {
	Type   EventType
	Kv     *mvccpb.KeyValue
	PrevKv *mvccpb.KeyValue
}

// IsCreate says whether the event created its key.
func (e *Event) IsCreate() bool {
	return e.Type == EventTypePut && e.Kv.CreateRevision == e.Kv.ModRevision
}

// IsModify says whether the event changed an existing key.
func (e *Event) IsModify() bool {
	return e.Type == EventTypePut && e.Kv.CreateRevision != e.Kv.ModRevision
}

// WatchResponse is one batch of watch events.
type WatchResponse struct {
	Events   []*Event
	Canceled bool
}

// Err is why the watch ended.
func (WatchResponse) Err() error { return ErrNotBuilt }

// WatchChan delivers watch responses.
type WatchChan <-chan WatchResponse

// Get fails.
func (*Client) Get(context.Context, string, ...OpOption) (*GetResponse, error) {
	return nil, ErrNotBuilt
}

// Put fails.
func (*Client) Put(context.Context, string, string, ...OpOption) (*PutResponse, error) {
	return nil, ErrNotBuilt
}

// Delete fails.
func (*Client) Delete(context.Context, string, ...OpOption) (*DeleteResponse, error) {
	return nil, ErrNotBuilt
}

// Grant fails.
func (*Client) Grant(context.Context, int64) (*LeaseGrantResponse, error) {
	return nil, ErrNotBuilt
}

// KeepAliveOnce fails.
func (*Client) KeepAliveOnce(context.Context, LeaseID) (*LeaseKeepAliveResponse, error) {
	return nil, ErrNotBuilt
}

// Watch returns a channel with one failed, cancelled response.
func (*Client) Watch(context.Context, string, ...OpOption) WatchChan {
	ch := make(chan WatchResponse, 1)
	ch <- WatchResponse{Canceled: true}
	close(ch)
	return ch
}

// Close does nothing.
func (*Client) Close() error { return nil }
