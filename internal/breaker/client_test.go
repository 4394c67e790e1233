package breaker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	metricCollector "github.com/afex/hystrix-go/hystrix/metric_collector"
	api "github.com/micro/go-micro/v2/api/proto"
	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"google.golang.org/grpc"

	"github.com/gomicro-stack/gomicro-stack/internal/rpcclient"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// stubClient answers every call with answer; the wrapper under test is what is real here.
type stubClient struct {
	client.Client
	answer func(ctx context.Context, rsp *string) error
	calls  atomic.Int32
}

func (s *stubClient) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	s.calls.Add(1)
	return s.answer(ctx, rsp.(*string))
}

// setup configures a fresh command that opens after 4 calls at 50% errors. Its concurrency
// limit is far above what the tests run: hystrix-go returns a slot only after the caller has
// its answer, so even sequential calls can find a few slots taken (see Config.MaxConcurrent).
func setup(t *testing.T, answer func(context.Context, *string) error, fallbacks Fallbacks) (client.Client, client.Request, *stubClient) {
	t.Helper()
	c := Config{Timeout: 100 * time.Millisecond, MaxConcurrent: 1000, ErrorPercent: 50, RequestVolume: 4, SleepWindow: time.Hour}
	return setupWith(t, c, answer, fallbacks)
}

func setupWith(t *testing.T, c Config, answer func(context.Context, *string) error, fallbacks Fallbacks) (client.Client, client.Request, *stubClient) {
	t.Helper()
	hystrix.Flush()
	service := strings.ReplaceAll(t.Name(), "/", ".")
	stats.Delete(CommandName(service, "Svc.Do")) // a test run again starts from zero
	if err := Apply([]string{CommandName(service, "Svc.Do")}, c); err != nil {
		t.Fatal(err)
	}
	stub := &stubClient{Client: client.NewClient(), answer: answer}
	if fallbacks != nil {
		fallbacks = Fallbacks{CommandName(service, "Svc.Do"): fallbacks["Svc.Do"]}
	}
	return NewClientWrapper(fallbacks)(stub), stub.Client.NewRequest(service, "Svc.Do", nil), stub
}

func isOpen(req client.Request) bool {
	cb, _, _ := hystrix.GetCircuit(CommandName(req.Service(), req.Endpoint()))
	return !cb.AllowRequest()
}

func TestBusinessErrorsDoNotOpenTheBreaker(t *testing.T) {
	c, req, stub := setup(t, func(context.Context, *string) error {
		return merrors.NotFound("go.micro.api.user", "user not found")
	}, nil)
	for i := 0; i < 20; i++ {
		var rsp string
		err := c.Call(context.Background(), req, &rsp)
		if merrors.Parse(err.Error()).Code != http.StatusNotFound {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if isOpen(req) || stub.calls.Load() != 20 {
		t.Fatalf("open %v after %d calls answered 404", isOpen(req), stub.calls.Load())
	}
}

func TestFailuresOpenTheBreakerAndTheFallbackAnswers(t *testing.T) {
	var causes []error
	fallbacks := Fallbacks{"Svc.Do": func(ctx context.Context, req client.Request, rsp interface{}, cause error) error {
		causes = append(causes, cause)
		*rsp.(*string) = "from the fallback"
		return nil
	}}
	c, req, stub := setup(t, func(context.Context, *string) error {
		return rpcerror.ClientError(rpcerror.Unreachable, "connection refused")
	}, fallbacks)
	// hystrix counts asynchronously: call until the breaker opens, within a deadline.
	for deadline := time.Now().Add(5 * time.Second); !isOpen(req); {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not open")
		}
		var rsp string
		var outcome Outcome
		if err := c.Call(Track(context.Background(), &outcome), req, &rsp); err != nil || rsp != "from the fallback" || !outcome.Degraded() {
			t.Fatalf("%v %q degraded=%v", err, rsp, outcome.Degraded())
		}
	}
	calls := stub.calls.Load()
	var rsp string
	if err := c.Call(context.Background(), req, &rsp); err != nil || rsp != "from the fallback" {
		t.Fatalf("open breaker: %v %q", err, rsp)
	}
	if stub.calls.Load() != calls || !errors.Is(causes[len(causes)-1], hystrix.ErrCircuitOpen) {
		t.Fatalf("an open breaker must not call: %d calls before, %d after; last cause %v", calls, stub.calls.Load(), causes[len(causes)-1])
	}
}

// TestAQuietCircuitStillOpens: while a circuit is closed and has seen no error for a rolling
// window, the wrapper does not ask it before every call (see quietFor); the first failures must
// end that at once, so the circuit opens and the calls after it do not reach the dependency.
func TestAQuietCircuitStillOpens(t *testing.T) {
	var failing atomic.Bool
	c, req, stub := setup(t, func(context.Context, *string) error {
		if failing.Load() {
			return rpcerror.ClientError(rpcerror.Unreachable, "connection refused")
		}
		return nil
	}, nil)
	for i := range 20 {
		var rsp string
		if err := c.Call(context.Background(), req, &rsp); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if cmd := commandOf(req.Service(), req.Endpoint()); cmd.quiet.Load() == nil {
		t.Fatal("20 answered calls left the circuit unmarked quiet: the fast path is never taken")
	}
	failing.Store(true)
	for deadline := time.Now().Add(5 * time.Second); !isOpen(req); {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not open")
		}
		var rsp string
		_ = c.Call(context.Background(), req, &rsp)
	}
	calls := stub.calls.Load()
	for range 10 {
		var rsp string
		if err := c.Call(context.Background(), req, &rsp); err == nil {
			t.Fatal("an open breaker without a fallback answered without an error")
		}
	}
	if stub.calls.Load() != calls {
		t.Fatalf("an open breaker let %d calls through", stub.calls.Load()-calls)
	}
}

func TestWithoutFallbackErrorsHaveCodes(t *testing.T) {
	c, req, _ := setup(t, func(context.Context, *string) error {
		return rpcerror.ClientError(rpcerror.Unreachable, "connection refused")
	}, nil)
	for deadline := time.Now().Add(5 * time.Second); !isOpen(req); {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not open")
		}
		var rsp string
		c.Call(context.Background(), req, &rsp)
	}
	var rsp string
	last := c.Call(context.Background(), req, &rsp)
	if e := merrors.Parse(last.Error()); e.Code != http.StatusServiceUnavailable || e.Detail != "circuit open" {
		t.Fatalf("open breaker: %v", last)
	}
}

func TestCallsOverTheLimitAreRejectedAtOnce(t *testing.T) {
	running, release := make(chan struct{}, 2), make(chan struct{})
	c := Config{Timeout: 10 * time.Second, MaxConcurrent: 2, ErrorPercent: 50, RequestVolume: 4, SleepWindow: time.Hour}
	wrapped, req, stub := setupWith(t, c, func(context.Context, *string) error {
		running <- struct{}{}
		<-release
		return nil
	}, nil)
	answered := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			var rsp string
			answered <- wrapped.Call(context.Background(), req, &rsp)
		}()
	}
	<-running
	<-running
	var rsp string
	began := time.Now()
	err := wrapped.Call(context.Background(), req, &rsp)
	waited := time.Since(began)
	close(release)
	if e := merrors.Parse(fmt.Sprint(err)); e.Code != http.StatusServiceUnavailable || e.Detail != "too many concurrent calls" {
		t.Fatalf("third call with two running: %v", err)
	}
	if waited > time.Second {
		t.Fatalf("the rejection waited %s", waited)
	}
	for i := 0; i < 2; i++ {
		if err := <-answered; err != nil {
			t.Fatalf("a call within the limit: %v", err)
		}
	}
	if n := stub.calls.Load(); n != 2 {
		t.Fatalf("the dependency saw %d calls, want the 2 within the limit", n)
	}
}

func TestTimeoutUsesTheCallDeadline(t *testing.T) {
	c, req, _ := setup(t, func(ctx context.Context, _ *string) error {
		<-ctx.Done() // a dependency that hangs until the caller gives up
		return merrors.New("go.micro.client", "deadline exceeded", http.StatusRequestTimeout)
	}, nil)
	began := time.Now()
	var rsp string
	err := c.Call(context.Background(), req, &rsp)
	if merrors.Parse(err.Error()).Code != http.StatusRequestTimeout {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(began); d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("returned after %s, want about the 100ms timeout", d)
	}
}

func TestFallbackWithNothingToOffer(t *testing.T) {
	cause := errors.New("no identity to fall back on")
	c, req, _ := setup(t, func(context.Context, *string) error {
		return rpcerror.ClientError(rpcerror.Unreachable, "connection refused")
	}, Fallbacks{"Svc.Do": func(context.Context, client.Request, interface{}, error) error { return cause }})
	var rsp string
	var outcome Outcome
	if err := c.Call(Track(context.Background(), &outcome), req, &rsp); err != cause || outcome.Degraded() {
		t.Fatalf("got %v, degraded %v", err, outcome.Degraded())
	}
}

func TestCallerGivingUpDoesNotCount(t *testing.T) {
	timeout := merrors.New("go.micro.client", "context canceled", http.StatusRequestTimeout)
	for _, tc := range []struct {
		name     string
		giveUp   bool
		wantOpen bool
	}{
		// The caller gives up as the answer comes back: the answer is the client's "context
		// canceled" (whether hystrix sees the cancellation first or the answer, neither counts).
		{"the caller gave up mid-call", true, false},
		// The same answer to a caller still waiting is the dependency's failure.
		{"the call timed out on its own", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cancel context.CancelFunc
			c, req, _ := setup(t, func(ctx context.Context, _ *string) error {
				if tc.giveUp {
					cancel()
				}
				return timeout
			}, nil)
			open := openAfter(t, req, 20, func() {
				var ctx context.Context
				ctx, cancel = context.WithCancel(context.Background())
				defer cancel()
				var rsp string
				if err := c.Call(ctx, req, &rsp); err == nil {
					t.Fatal("want the timeout back")
				}
			})
			if open != tc.wantOpen {
				t.Fatalf("open %v, want %v", open, tc.wantOpen)
			}
		})
	}
}

// BenchmarkBreakerWrapper is what the breaker adds to every call (target: ≤ 3 µs and ≤ 10
// allocations), around a dependency that answers at once, with the services' default settings.
// The wrapper gives a call's concurrency slot back before it returns, so a tight loop never
// finds one taken. (It once ran with a limit of 1<<20 for hystrix.Do, which gives slots back
// asynchronously; hystrix-go then fills a channel of that many tickets, which every garbage
// collection scans: a quarter of the loop's time went to that.)
func BenchmarkBreakerWrapper(b *testing.B) {
	hystrix.Flush()
	if err := Apply([]string{"bench.Svc.Do"}, Config{Timeout: time.Second, MaxConcurrent: 1000, ErrorPercent: 50, RequestVolume: 20, SleepWindow: 5 * time.Second}); err != nil {
		b.Fatal(err)
	}
	stub := &stubClient{Client: client.NewClient(), answer: func(context.Context, *string) error { return nil }}
	c := NewClientWrapper(nil)(stub)
	req := stub.Client.NewRequest("bench", "Svc.Do", nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var rsp string
		if err := c.Call(ctx, req, &rsp); err != nil {
			b.Fatal(err)
		}
	}
}

// recorded counts, by command, the calls hystrix has recorded. hystrix counts asynchronously,
// so a test reads a breaker's state only once every call it made has been counted.
var (
	recorded      sync.Map // command → *atomic.Int64
	startRecorder sync.Once
)

// record starts counting the calls of the commands created from now on. It is not started for
// every test binary run: each collector slows hystrix's metrics, which hand back concurrency
// slots late enough to fail BenchmarkBreakerWrapper's tight loop.
func record() {
	startRecorder.Do(func() {
		metricCollector.Registry.Register(func(name string) metricCollector.MetricCollector {
			n := new(atomic.Int64)
			recorded.Store(name, n)
			return countingCollector{n}
		})
	})
}

type countingCollector struct{ n *atomic.Int64 }

func (c countingCollector) Update(r metricCollector.MetricResult) { c.n.Add(int64(r.Attempts)) }
func (c countingCollector) Reset()                                {}

// openAfter makes calls, then one more, waits until hystrix has recorded them all, and says
// whether the breaker is open. hystrix records one call at a time, feeding every collector
// of it before the next: once ours has the last call, the breaker's own has all before it.
func openAfter(t *testing.T, req client.Request, calls int, call func()) bool {
	t.Helper()
	record()
	hystrix.Flush() // the command's circuit is made again, counted
	for range calls + 1 {
		call()
	}
	name := CommandName(req.Service(), req.Endpoint())
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, ok := recorded.Load(name); ok && n.(*atomic.Int64).Load() >= int64(calls+1) {
			return isOpen(req)
		}
		if time.Now().After(deadline) {
			t.Fatalf("hystrix recorded fewer than %d calls of %s in 10s", calls+1, name)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUnsendableRequestsDoNotCount: requests that grpc cannot encode (a string field holding
// invalid UTF-8, as a client can put in any header, query or body) fail on the calling side,
// through the real go-micro gRPC client, with 400; however many, the breaker stays closed.
func TestUnsendableRequestsDoNotCount(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	go server.Serve(listener)
	t.Cleanup(server.Stop)

	hystrix.Flush()
	c := Config{Timeout: 2 * time.Second, MaxConcurrent: 1000, ErrorPercent: 50, RequestVolume: 4, SleepWindow: time.Hour}
	service := "go.micro.api.test"
	if err := Apply([]string{CommandName(service, "Test.Do")}, c); err != nil {
		t.Fatal(err)
	}
	rpc := NewClientWrapper(nil)(rpcclient.New(rpcerror.DialOptions()))
	req := rpc.NewRequest(service, "Test.Do", &api.Request{Body: "{\"name\":\"\xff\"}"})
	if openAfter(t, req, 20, func() {
		err := rpc.Call(context.Background(), req, &api.Response{}, client.WithAddress(listener.Addr().String()))
		if e := merrors.Parse(err.Error()); e.Code != http.StatusBadRequest || e.Id != "go.micro.client" {
			t.Fatalf("unsendable request: %v, want 400 from go.micro.client", err)
		}
	}) {
		t.Fatal("requests that could not be sent opened the breaker")
	}
}

// TestSheddingDoesNotCount: a service that refuses calls at once to stay within its capacity
// is healthy; its 503s pass through to the caller without opening the breaker. A plain 503
// from the same service does count.
func TestSheddingDoesNotCount(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   error
		wantOpen bool
	}{
		// As the user service answers account.ErrBusy (its handler maps it to this reason).
		{"shedding", rpcerror.New("go.micro.api.user", apipb.Reason_OVERLOADED, "too busy"), false},
		{"plain 503", merrors.New("go.micro.api.user", "down", http.StatusServiceUnavailable), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, req, _ := setup(t, func(context.Context, *string) error { return tc.answer }, nil)
			open := openAfter(t, req, 20, func() {
				var rsp string
				err := c.Call(context.Background(), req, &rsp)
				if err == nil || (!tc.wantOpen && merrors.Parse(err.Error()).Status != StatusShedding) {
					t.Fatalf("got %v, want the service's answer", err)
				}
			})
			if open != tc.wantOpen {
				t.Fatalf("open %v, want %v", open, tc.wantOpen)
			}
		})
	}
}
