package microsvc

import (
	"context"
	"sync"
	"time"

	"github.com/micro/go-micro/v2/client"
	"github.com/micro/go-micro/v2/client/selector"
	"github.com/micro/go-micro/v2/registry"

	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
)

// Retries is how many times a call is tried again, on another node when there is one.
const Retries = 2

// downFor is how long a node that refused a connection is skipped. It outlasts the registration
// TTL, so a node killed without deregistering is gone from the registry before it is tried again.
const downFor = 30 * time.Second

// NewSelector picks nodes round-robin from the registry (through go-micro's watched cache)
// and skips, at once and for a while, a node whose last call failed at the connection. When
// every node the cache knows is down, it reads the registry itself (see skip).
func NewSelector(reg registry.Registry) selector.Selector {
	return newSkipDown(selector.NewSelector(selector.Registry(reg), selector.SetStrategy(selector.RoundRobin)), reg)
}

func newSkipDown(sel selector.Selector, reg registry.Registry) *skipDown {
	return &skipDown{Selector: sel, registry: reg, down: map[string]time.Time{}, reread: map[string]reread{}}
}

type skipDown struct {
	selector.Selector
	registry registry.Registry // read past the cache when every node it knows is down

	mu     sync.Mutex
	down   map[string]time.Time // node id → until
	reread map[string]reread    // by service
}

// reread is a service as the registry itself last said, and when.
type reread struct {
	services []*registry.Service
	at       time.Time
}

// rereadEvery bounds the registry reads of a service all of whose known nodes are down.
const rereadEvery = time.Second

func (s *skipDown) Select(service string, opts ...selector.SelectOption) (selector.Next, error) {
	return s.Selector.Select(service, append(opts, selector.WithFilter(s.skip))...)
}

// skip drops the nodes marked down. When that leaves none, the cache may be behind (its watch
// of the registry waits seconds after an error, as after a partition, while the service's
// instances restart elsewhere): the registry itself is asked, at most every rereadEvery, and
// its live nodes are tried. If it knows none either, every node is tried rather than none: one
// may be back.
func (s *skipDown) skip(services []*registry.Service) []*registry.Service {
	out, alive := s.alive(services)
	if alive > 0 || len(services) == 0 {
		return out
	}
	if fresh, alive := s.alive(s.readRegistry(services[0].Name)); alive > 0 {
		return fresh
	}
	return services
}

// readRegistry is the service as the registry says, read at most every rereadEvery: the
// first caller to find the last read stale reads it again; callers meanwhile get the last one
// (the calls in flight when a service's nodes all go down make one read, not one each).
func (s *skipDown) readRegistry(name string) []*registry.Service {
	s.mu.Lock()
	last, ok := s.reread[name]
	if ok && time.Since(last.at) < rereadEvery {
		s.mu.Unlock()
		return last.services
	}
	s.reread[name] = reread{services: last.services, at: time.Now()}
	s.mu.Unlock()
	services, err := s.registry.GetService(name)
	if err != nil {
		services = nil
	}
	s.mu.Lock()
	s.reread[name] = reread{services: services, at: time.Now()}
	s.mu.Unlock()
	return services
}

// alive is services without the nodes marked down, and how many are left.
func (s *skipDown) alive(services []*registry.Service) ([]*registry.Service, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.down) == 0 {
		alive := 0
		for _, svc := range services {
			alive += len(svc.Nodes)
		}
		return services, alive
	}
	now := time.Now()
	var out []*registry.Service
	alive := 0
	for _, svc := range services {
		copied := *svc
		copied.Nodes = nil
		for _, n := range svc.Nodes {
			if until, ok := s.down[n.Id]; ok && now.Before(until) {
				continue
			}
			copied.Nodes = append(copied.Nodes, n)
		}
		alive += len(copied.Nodes)
		out = append(out, &copied)
	}
	return out, alive
}

func (s *skipDown) Mark(service string, node *registry.Node, err error) {
	s.mu.Lock()
	switch {
	case err == nil:
		delete(s.down, node.Id)
	case unreachable(err):
		s.down[node.Id] = time.Now().Add(downFor)
	}
	for id, until := range s.down {
		if time.Now().After(until) {
			delete(s.down, id)
		}
	}
	s.mu.Unlock()
	s.Selector.Mark(service, node, err)
}

// unreachable says the call failed at the connection: nothing reached the node, the node
// vanished under the call, or it did not answer within the attempt's deadline (a node cut off
// by the network looks just so).
func unreachable(err error) bool {
	class, _ := rpcerror.ClassOf(err)
	return class == rpcerror.Unreachable || class == rpcerror.Lost || class == rpcerror.TimedOut
}

// RetryPolicy retries a call, on another node, when it cannot have run (nothing reached the
// node), and for idempotent endpoints also when the node failed under it or did not answer in
// time. Answers about the request (4xx) and errors from the handler are never retried.
func RetryPolicy(idempotent ...string) client.RetryFunc {
	safe := map[string]bool{}
	for _, e := range idempotent {
		safe[e] = true
	}
	return func(ctx context.Context, req client.Request, retryCount int, err error) (bool, error) {
		if err == nil || ctx.Err() != nil {
			return false, nil
		}
		switch class, _ := rpcerror.ClassOf(err); class {
		case rpcerror.Unreachable:
			return true, nil
		case rpcerror.Lost, rpcerror.TimedOut:
			return safe[req.Endpoint()], nil
		}
		return false, nil
	}
}

// RetryWrapper gives every call Retries retries under RetryPolicy, and round-robin selection
// over the registry even where a caller brings its own strategy: micro's API handler picks from
// the router's list at random, which would keep choosing a node that is down. An idempotent
// call also gets a deadline per attempt (see attemptDeadline).
func RetryWrapper(idempotent ...string) client.Wrapper {
	policy := RetryPolicy(idempotent...)
	safe := map[string]bool{}
	for _, e := range idempotent {
		safe[e] = true
	}
	return func(c client.Client) client.Client {
		return &retryClient{Client: c, policy: policy, safe: safe}
	}
}

type retryClient struct {
	client.Client
	policy client.RetryFunc
	safe   map[string]bool
}

func (c *retryClient) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	opts = append(opts, client.WithRetries(Retries), client.WithRetry(c.policy), client.WithBackoff(backoff),
		client.WithSelectOption(selector.WithStrategy(selector.RoundRobin)))
	if c.safe[req.Endpoint()] {
		opts = append(opts, client.WithCallWrapper(attemptDeadline))
	}
	return c.Client.Call(ctx, req, rsp, opts...)
}

// minAttempt is the shortest deadline an attempt gets while the call has that much left.
const minAttempt = 100 * time.Millisecond

// attemptDeadline gives each attempt of an idempotent call half of the time the call has left
// (the last ones what remains). A node cut off by the network refuses nothing: it just never
// answers, and gRPC's keepalive, which may not ping more often than every 10 s, notices it only
// after the call's deadline. Bounding the attempt leaves time to try another node (RetryPolicy
// retries TIMED_OUT for idempotent calls, and the selector skips the node that timed out).
func attemptDeadline(next client.CallFunc) client.CallFunc {
	return func(ctx context.Context, node *registry.Node, req client.Request, rsp interface{}, opts client.CallOptions) error {
		if deadline, ok := ctx.Deadline(); ok {
			if half := time.Until(deadline) / 2; half >= minAttempt {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, half)
				defer cancel()
			}
		}
		return next(ctx, node, req, rsp, opts)
	}
}

// backoff does not wait: a retry goes to another node, and a node that refuses does so at
// once, so waiting would only add latency (with a breaker's probe, to every caller's p99).
// Retries are bounded by Retries and by the call's deadline.
func backoff(context.Context, client.Request, int) (time.Duration, error) { return 0, nil }
