package breaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
)

// Fallback answers a call whose dependency failed: the breaker is open, the call timed out, was
// rejected for concurrency or failed in transport. It may fill rsp and return nil, or return an
// error (cause, typically) when it has nothing to offer.
type Fallback func(ctx context.Context, req client.Request, rsp interface{}, cause error) error

// Fallbacks are fallbacks by command name, {service}.{endpoint}.
type Fallbacks map[string]Fallback

// CommandName is the hystrix command of a call: go.micro.api.user.User.GetUserInfo.
func CommandName(service, endpoint string) string { return service + "." + endpoint }

// commandKey is a call's service and endpoint, which name its command.
type commandKey struct{ service, endpoint string }

// command is what the wrapper keeps of one hystrix command between calls.
type command struct {
	name string
	// quiet is the command's circuit, while it was closed at its last check and no call has
	// reported an error to it since (nil otherwise); lastError is when one last did (unix ns).
	quiet     atomic.Pointer[hystrix.CircuitBreaker]
	lastError atomic.Int64
}

// quietFor is how long after the last error a closed circuit's verdict stands: hystrix-go
// opens a circuit only for errors in its rolling window of 10 one-second buckets, so once none
// is left in it, asking again (two clock reads and two sums of rolling counters under locks, a
// third of what the wrapper costs) would only say closed again.
const quietFor = rollingWindow + time.Second

// allow asks circuit whether a call may go at now, as circuit.AllowRequest does, without asking
// while the circuit is closed and quiet (see quietFor): then nothing could have opened it.
func (c *command) allow(circuit *hystrix.CircuitBreaker, now time.Time) bool {
	if c.quiet.Load() == circuit && now.UnixNano()-c.lastError.Load() > int64(quietFor) {
		return true
	}
	if !circuit.IsOpen() {
		// An error reported meanwhile moves lastError on, so the fast path above waits for
		// the window again even if this store lands after the error's reset.
		c.quiet.Store(circuit)
		return true
	}
	return circuit.AllowRequest()
}

// reported notes that a call ended as ended at now.
func (c *command) reported(ended outcome, now time.Time) {
	if ended != success && ended != badRequest {
		c.lastError.Store(now.UnixNano())
		c.quiet.Store(nil)
	}
}

// commands are the commands called, by service and endpoint: a client calls a handful of
// endpoints, so the map stays as small as the set of circuits hystrix-go itself keeps.
var commands struct {
	sync.RWMutex
	byKey map[commandKey]*command
}

func commandOf(service, endpoint string) *command {
	key := commandKey{service, endpoint}
	commands.RLock()
	c, ok := commands.byKey[key]
	commands.RUnlock()
	if ok {
		return c
	}
	commands.Lock()
	defer commands.Unlock()
	if c, ok := commands.byKey[key]; ok {
		return c
	}
	if commands.byKey == nil {
		commands.byKey = make(map[commandKey]*command)
	}
	c = &command{name: CommandName(service, endpoint)}
	commands.byKey[key] = c
	return c
}

// NewClientWrapper runs every call as a hystrix command named {service}.{endpoint}: the
// command's hystrix-go circuit decides whether the call may go (closed, or an open one's single
// probe) and learns how it ended. Unlike the go-plugins wrapper, answers that are about the
// request (4xx: bad input, not found, not allowed) pass through without counting as failures,
// so a burst of wrong passwords never opens a breaker; and a failed call goes to the command's
// fallback, if any.
//
// The call runs in the caller's goroutine, not through hystrix.Do: that one starts two
// goroutines, two channels and a timer per call (8–11 µs and 32–34 allocations a call here), and
// hands the concurrency slot back asynchronously, so back-to-back calls found slots still
// taken. Here the timeout is the call's own deadline (the call ends when it passes, nothing is
// left running), the concurrency limit is a counter given back before the caller has its
// answer, and the events reach hystrix-go's metrics as hystrix.Do reports them (ReportEvent),
// so the circuit opens, probes and closes as before.
func NewClientWrapper(fallbacks Fallbacks) client.Wrapper {
	return func(c client.Client) client.Client {
		return &breakerClient{Client: c, fallbacks: fallbacks}
	}
}

type breakerClient struct {
	client.Client
	fallbacks Fallbacks
}

func (c *breakerClient) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	cmd := commandOf(req.Service(), req.Endpoint())
	name := cmd.name
	circuit, _, err := hystrix.GetCircuit(name)
	if err != nil {
		return fmt.Errorf("breaker %s: %w", name, err)
	}
	limit, st, began := limitOf(name), statsOf(name), time.Now()
	// ended is how the command ended; cause, for a call that did not succeed, is what its
	// fallback is told; passed is an answer about the request, returned as it is.
	var ended outcome
	var cause, passed error
	var took time.Duration
	switch {
	case !cmd.allow(circuit, began):
		ended, cause = shortCircuited, hystrix.ErrCircuitOpen
	case !limit.acquire():
		ended, cause = rejected, hystrix.ErrMaxConcurrency
	default:
		// The deadline covers the call with its retries.
		callCtx, cancel := context.WithTimeout(ctx, limit.timeout)
		st.begin(began)
		err := c.Client.Call(callCtx, req, rsp, opts...)
		took = time.Since(began)
		limit.release()
		st.end(began.Add(took), took)
		timedOutHere := callCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			ended = success
		case !countsAsFailure(ctx, err):
			ended, passed = badRequest, asRequestError(err)
		case timedOutHere:
			ended, cause = timedOut, err
		default:
			ended, cause = failure, err
		}
	}
	result, fallbackEnded := passed, noOutcome
	if cause != nil {
		result, fallbackEnded = translate(cause), fallbackMissing
		if fb := c.fallbacks[name]; fb != nil {
			if err := fb(ctx, req, rsp, cause); err != nil {
				result, fallbackEnded = translate(err), fallbackFailure
			} else {
				result, fallbackEnded = nil, fallbackSuccess
				markDegraded(ctx)
			}
		}
		// The fallback's time counts in the command's total, as in Netflix's.
		took = time.Since(began)
	}
	// hystrix-go's metrics are fed through a bounded channel; when it is full the event is
	// dropped, as hystrix.Do drops it.
	_ = circuit.ReportEvent(hystrixEvents[ended][fallbackEnded+1], began, took)
	cmd.reported(ended, began.Add(took))
	st.record(began.Add(took), took, ended, fallbackEnded, result != nil)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		annotate(span, name, ended, fallbackEnded, cause)
	}
	return result
}

// annotate tells the call's span (tracing.ClientWrapper's, outside this one) what the breaker
// did: the command and how it ended, whether the circuit was open, and an event when a
// fallback was asked to answer instead of the dependency.
func annotate(span trace.Span, command string, ended, fallback outcome, cause error) {
	span.SetAttributes(attribute.String("breaker.command", command), attribute.String("breaker.outcome", eventNames[ended]),
		attribute.Bool("breaker.circuit_open", ended == shortCircuited))
	if fallback != noOutcome {
		span.AddEvent("breaker.fallback", trace.WithAttributes(attribute.String("breaker.fallback", eventNames[fallback]),
			attribute.String("breaker.cause", cause.Error())))
	}
}

// eventNames are hystrix-go's names of the outcomes (and ours for the rest).
var eventNames = [outcomes]string{success: "success", failure: "failure", timedOut: "timeout", shortCircuited: "short-circuit",
	rejected: "rejected", badRequest: "bad-request", exceptionThrown: "exception-thrown",
	fallbackSuccess: "fallback-success", fallbackFailure: "fallback-failure", fallbackMissing: "fallback-missing"}

// noOutcome is the fallback's outcome for a call that needed none.
const noOutcome outcome = -1

// hystrixEvents are the event names hystrix.Do reports for how a command ended and how its
// fallback did ([ended][fallback's outcome + 1], so noOutcome first), built once so that
// reporting allocates nothing. A bad request is a success to the circuit: it is the caller's.
var hystrixEvents = func() (out [outcomes][outcomes + 1][]string) {
	names := eventNames
	names[badRequest] = "success"
	for _, ended := range []outcome{success, failure, timedOut, shortCircuited, rejected, badRequest} {
		out[ended][noOutcome+1], out[ended][fallbackMissing+1] = []string{names[ended]}, []string{names[ended]}
		for _, fb := range []outcome{fallbackSuccess, fallbackFailure} {
			out[ended][fb+1] = []string{names[ended], names[fb]}
		}
	}
	return out
}()

// countsAsFailure says whether err is the dependency's fault, by its class and code (never its
// text). A 4xx answer is about the request; a caller that gave up (its own context ended) says
// nothing about the dependency either, nor does a request the client could not even send
// (rpcerror.NotSent), nor a live dependency that refused the call to stay within its capacity
// (reason OVERLOADED, see Shedding): counting those would let any client open the breaker for
// everyone.
func countsAsFailure(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	class, e := rpcerror.ClassOf(err)
	switch class {
	case rpcerror.NotSent, rpcerror.Canceled:
		return false
	case rpcerror.Unreachable, rpcerror.Lost, rpcerror.TimedOut:
		return true
	}
	switch {
	case e.Status == StatusShedding:
		return false
	case e.Code == http.StatusRequestTimeout, e.Code == http.StatusTooManyRequests:
		return true
	case e.Code >= 400 && e.Code < 500:
		return false
	default:
		return true
	}
}

// clientID is the go-micro error id of failures the calling side reports itself.
const clientID = rpcerror.ClientID

// asRequestError gives a request that could not be sent the 400 it deserves: the caller built
// it from what its own client sent.
func asRequestError(err error) error {
	if class, e := rpcerror.ClassOf(err); class == rpcerror.NotSent {
		return merrors.BadRequest(clientID, "the request cannot be encoded: %s", e.Detail)
	}
	return err
}

// translate turns hystrix's own errors into go-micro errors with fitting codes, from the client
// (like a refused connection), since the service was never asked.
func translate(err error) error {
	var circuit hystrix.CircuitError
	if err == nil || !errors.As(err, &circuit) {
		return err
	}
	switch {
	case errors.Is(err, hystrix.ErrTimeout):
		return merrors.New(clientID, "timed out", http.StatusRequestTimeout)
	case errors.Is(err, hystrix.ErrCircuitOpen):
		return merrors.New(clientID, "circuit open", http.StatusServiceUnavailable)
	case errors.Is(err, hystrix.ErrMaxConcurrency):
		return merrors.New(clientID, "too many concurrent calls", http.StatusServiceUnavailable)
	default:
		return merrors.New(clientID, circuit.Message, http.StatusServiceUnavailable)
	}
}

// Outcome tells a caller how its call was answered.
type Outcome struct {
	mu       sync.Mutex
	degraded bool
}

// Degraded reports whether a fallback answered instead of the dependency.
func (o *Outcome) Degraded() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.degraded
}

type outcomeKey struct{}

// Track returns a context whose calls report into o.
func Track(ctx context.Context, o *Outcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, o)
}

func markDegraded(ctx context.Context) {
	if o, ok := ctx.Value(outcomeKey{}).(*Outcome); ok {
		o.mu.Lock()
		o.degraded = true
		o.mu.Unlock()
	}
}
