package clientv3

import (
	"context"
	"errors"
	"testing"
)

// TestEverythingFailsClearly: go-micro keeps a nil *Client when New fails; every call on it
// answers ErrNotBuilt instead of panicking.
func TestEverythingFailsClearly(t *testing.T) {
	c, err := New(Config{Endpoints: []string{"127.0.0.1:2379"}})
	if !errors.Is(err, ErrNotBuilt) || c != nil {
		t.Fatalf("New: %v, %v", c, err)
	}
	ctx := context.Background()
	if _, err := c.Get(ctx, "k", WithPrefix(), WithSerializable()); !errors.Is(err, ErrNotBuilt) {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "k", "v", WithLease(1)); !errors.Is(err, ErrNotBuilt) {
		t.Fatal(err)
	}
	if _, err := c.Grant(ctx, 10); !errors.Is(err, ErrNotBuilt) {
		t.Fatal(err)
	}
	for rsp := range c.Watch(ctx, "k", WithPrevKV()) {
		if !rsp.Canceled || !errors.Is(rsp.Err(), ErrNotBuilt) {
			t.Fatalf("watch: %+v", rsp)
		}
	}
}
