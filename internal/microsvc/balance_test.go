package microsvc

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/client"
	"github.com/micro/go-micro/v2/client/selector"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-micro/v2/registry/memory"

	"google.golang.org/grpc"

	"github.com/gomicro-stack/gomicro-stack/internal/rpcclient"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

func TestSelectorSkipsNodesThatRefuse(t *testing.T) {
	mem := memory.NewRegistry()
	mem.Register(&registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "a", Address: "127.0.0.1:1"}, {Id: "b", Address: "127.0.0.1:2"}}})
	sel := NewSelector(mem)
	picks := func() map[string]int {
		seen := map[string]int{}
		for i := 0; i < 20; i++ {
			next, err := sel.Select("svc")
			if err != nil {
				t.Fatal(err)
			}
			n, _ := next()
			seen[n.Id]++
		}
		return seen
	}
	if seen := picks(); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("both nodes must be picked: %v", seen)
	}
	refusedErr := rpcerror.ClientError(rpcerror.Unreachable, "connection error: dial tcp 127.0.0.1:1: connect: connection refused")
	sel.Mark("svc", &registry.Node{Id: "a"}, refusedErr)
	if seen := picks(); seen["a"] != 0 {
		t.Fatalf("a refused and must be skipped: %v", seen)
	}
	sel.Mark("svc", &registry.Node{Id: "b"}, refusedErr)
	if seen := picks(); seen["a"]+seen["b"] != 20 {
		t.Fatalf("with every node down, all are tried rather than none: %v", seen)
	}
	sel.Mark("svc", &registry.Node{Id: "a"}, nil)
	if seen := picks(); seen["b"] != 0 {
		t.Fatalf("a answered again, b is still down: %v", seen)
	}
	sel.Mark("svc", &registry.Node{Id: "a"}, merrors.NotFound("svc", "user not found"))
	if seen := picks(); seen["a"] == 0 {
		t.Fatal("an answer about the request says nothing about the node")
	}
}

// TestSelectorReadsTheRegistryWhenEveryKnownNodeIsDown: a cache that still lists only nodes
// that refuse (its watch is behind, as after a partition) does not fail the call: the registry
// itself is read and its live node tried; one read a second, however many calls.
func TestSelectorReadsTheRegistryWhenEveryKnownNodeIsDown(t *testing.T) {
	stale, fresh := memory.NewRegistry(), &countingRegistry{Registry: memory.NewRegistry()}
	stale.Register(&registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "old", Address: "127.0.0.1:1"}}})
	fresh.Register(&registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "new", Address: "127.0.0.1:2"}}})
	sel := newSkipDown(selector.NewSelector(selector.Registry(stale)), fresh)
	pick := func() string {
		next, err := sel.Select("svc")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := next()
		return n.Id
	}
	if got := pick(); got != "old" || fresh.reads.Load() != 0 {
		t.Fatalf("picked %s with %d registry reads; want the cache's node and none", got, fresh.reads.Load())
	}
	sel.Mark("svc", &registry.Node{Id: "old"}, rpcerror.ClientError(rpcerror.Unreachable, "connection refused"))
	for range 5 {
		if got := pick(); got != "new" {
			t.Fatalf("picked %s; want the registry's live node", got)
		}
	}
	if n := fresh.reads.Load(); n != 1 {
		t.Fatalf("%d registry reads for 5 calls within a second; want 1", n)
	}
}

// TestACallRetriedPastAStaleCacheSucceeds: the node a stale cache gives refuses; the retry,
// chosen afresh, goes to the node the registry itself lists, and the call succeeds.
func TestACallRetriedPastAStaleCacheSucceeds(t *testing.T) {
	server := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		if err := stream.RecvMsg(new(userpb.GetUserInfoRequest)); err != nil {
			return err
		}
		return stream.SendMsg(&userpb.GetUserInfoResponse{Id: 7})
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(l)
	t.Cleanup(server.Stop)
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddress := refused.Addr().String()
	refused.Close()

	stale, fresh := memory.NewRegistry(), memory.NewRegistry()
	stale.Register(&registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "old", Address: deadAddress}}})
	fresh.Register(&registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "new", Address: l.Addr().String()}}})
	rpc := RetryWrapper()(rpcclient.New(nil, client.Registry(stale), client.Selector(newSkipDown(selector.NewSelector(selector.Registry(stale)), fresh))))
	rsp := new(userpb.GetUserInfoResponse)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rpc.Call(ctx, rpc.NewRequest("svc", "User.GetUserInfo", &userpb.GetUserInfoRequest{}), rsp); err != nil || rsp.Id != 7 {
		t.Fatalf("%v, id %d", err, rsp.Id)
	}
}

// TestSelectorReadsTheRegistryOnceForCallsInFlight: the calls in flight when every known node
// is down make one registry read between them, however slow it is.
func TestSelectorReadsTheRegistryOnceForCallsInFlight(t *testing.T) {
	stale, fresh := memory.NewRegistry(), &countingRegistry{Registry: memory.NewRegistry(), slow: 100 * time.Millisecond}
	stale.Register(&registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "old", Address: "127.0.0.1:1"}}})
	fresh.Register(&registry.Service{Name: "svc", Version: "1", Nodes: []*registry.Node{{Id: "new", Address: "127.0.0.1:2"}}})
	sel := newSkipDown(selector.NewSelector(selector.Registry(stale)), fresh)
	sel.Mark("svc", &registry.Node{Id: "old"}, rpcerror.ClientError(rpcerror.Unreachable, "connection refused"))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sel.Select("svc")
		}()
	}
	wg.Wait()
	if n := fresh.reads.Load(); n != 1 {
		t.Fatalf("%d registry reads for 20 calls in flight; want 1", n)
	}
}

type countingRegistry struct {
	registry.Registry
	reads atomic.Int64
	slow  time.Duration
}

func (r *countingRegistry) GetService(name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	r.reads.Add(1)
	time.Sleep(r.slow)
	return r.Registry.GetService(name, opts...)
}

func TestRetryPolicy(t *testing.T) {
	policy := RetryPolicy("User.GetUserInfo")
	c := client.NewClient()
	safe, unsafe := c.NewRequest("svc", "User.GetUserInfo", nil), c.NewRequest("svc", "User.Register", nil)
	refused := rpcerror.ClientError(rpcerror.Unreachable, "connection error: connect: connection refused")
	reset := rpcerror.ClientError(rpcerror.Lost, "transport is closing")
	timeout := rpcerror.ClientError(rpcerror.TimedOut, "deadline exceeded")
	for _, tc := range []struct {
		name  string
		req   client.Request
		err   error
		retry bool
	}{
		{"refused, safe", safe, refused, true},
		{"refused, unsafe: it never ran", unsafe, refused, true},
		{"reset mid-call, safe", safe, reset, true},
		{"reset mid-call, unsafe: it may have run", unsafe, reset, false},
		{"timeout, safe", safe, timeout, true},
		{"timeout, unsafe", unsafe, timeout, false},
		{"answer about the request", safe, merrors.NotFound("go.micro.api.user", "user not found"), false},
		{"handler error", safe, merrors.InternalServerError("go.micro.api.user", "internal error"), false},
		{"not sent: the request's fault", safe, rpcerror.ClientError(rpcerror.NotSent, "grpc: error while marshaling"), false},
		// The words do not decide: a handler's error saying "connection refused" is its answer.
		{"handler error in the words of a refusal", unsafe, merrors.InternalServerError("go.micro.api.user", "connection refused"), false},
		{"no error", safe, nil, false},
	} {
		retry, err := policy(context.Background(), tc.req, 0, tc.err)
		if err != nil || retry != tc.retry {
			t.Errorf("%s: retry %v (%v), want %v", tc.name, retry, err, tc.retry)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if retry, _ := policy(ctx, safe, 0, refused); retry {
		t.Error("a caller that gave up is not retried for")
	}
}

func TestAttemptDeadline(t *testing.T) {
	var got time.Duration
	var had bool
	next := func(ctx context.Context, _ *registry.Node, _ client.Request, _ interface{}, _ client.CallOptions) error {
		var deadline time.Time
		deadline, had = ctx.Deadline()
		got = time.Until(deadline)
		return nil
	}
	call := attemptDeadline(next)
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		min, max time.Duration
	}{
		{"half of what is left", time.Second, 400 * time.Millisecond, 500 * time.Millisecond},
		{"too little to halve: all of it", 150 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
		call(ctx, nil, nil, nil, client.CallOptions{})
		cancel()
		if !had || got < tc.min || got > tc.max {
			t.Errorf("%s: attempt deadline in %s, want %s to %s", tc.name, got, tc.min, tc.max)
		}
	}
	call(context.Background(), nil, nil, nil, client.CallOptions{})
	if had {
		t.Error("a call without a deadline got one per attempt")
	}
}
