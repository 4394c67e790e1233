package microsvc

import (
	"context"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-micro/v2/registry/memory"

	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
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
