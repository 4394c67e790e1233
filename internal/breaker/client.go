package breaker

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"

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

// timeoutMargin lets the call's own deadline (the breaker timeout) fire before hystrix's timer:
// hystrix abandons a timed-out call without stopping it, and the call would go on writing into
// a response the fallback is filling.
const timeoutMargin = 250 * time.Millisecond

// NewClientWrapper runs every call as a hystrix command named {service}.{endpoint}. Unlike the
// go-plugins wrapper, answers that are about the request (4xx: bad input, not found, not
// allowed) pass through without counting as failures, so a burst of wrong passwords never opens
// a breaker; and a failed call goes to the command's fallback, if any.
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
	name := CommandName(req.Service(), req.Endpoint())
	st, began := statsOf(name), time.Now()
	// The deadline covers the call with its retries.
	callCtx, cancel := context.WithTimeout(ctx, timeoutOf(name))
	defer cancel()
	var mu sync.Mutex
	// passed is an answer about the request, returned as it is; fallbackErr is what a fallback
	// that had nothing to offer said (hystrix would flatten it into a string); cause is why the
	// fallback was called.
	var passed, fallbackErr, cause error
	run := func(context.Context) error {
		st.begin(time.Now())
		started := time.Now()
		err := c.Client.Call(callCtx, req, rsp, opts...)
		st.end(time.Now(), time.Since(started))
		if err != nil && !countsAsFailure(ctx, err) {
			mu.Lock()
			passed = asRequestError(err)
			mu.Unlock()
			return nil
		}
		return err
	}
	fb := c.fallbacks[name]
	var fallback func(context.Context, error) error
	if fb != nil {
		fallback = func(_ context.Context, why error) error {
			mu.Lock()
			cause = why
			mu.Unlock()
			err := fb(ctx, req, rsp, why)
			if err == nil {
				markDegraded(ctx)
				return nil
			}
			mu.Lock()
			fallbackErr = err
			mu.Unlock()
			return err
		}
	}
	err := hystrix.DoC(ctx, name, run, fallback)
	mu.Lock()
	defer mu.Unlock()
	if fb == nil {
		cause = err
	}
	var result error
	switch {
	case passed != nil:
		result = passed
	case fallbackErr != nil:
		result = translate(fallbackErr)
	default:
		result = translate(err)
	}
	st.record(time.Now(), time.Since(began), outcomesOf(passed, cause, fb != nil, fallbackErr, result)...)
	return result
}

// outcomesOf says what happened to a call in Netflix Hystrix's terms: how the command ended
// (success, bad request, failure, timeout, short-circuited, rejected), how its fallback did, and
// whether the caller got an error.
func outcomesOf(passed, cause error, hasFallback bool, fallbackErr, result error) []outcome {
	var happened []outcome
	switch {
	case passed != nil:
		happened = append(happened, badRequest)
	case cause == nil:
		happened = append(happened, success)
	default:
		switch {
		case errors.Is(cause, hystrix.ErrTimeout):
			happened = append(happened, timedOut)
		case errors.Is(cause, hystrix.ErrCircuitOpen):
			happened = append(happened, shortCircuited)
		case errors.Is(cause, hystrix.ErrMaxConcurrency):
			happened = append(happened, rejected)
		default:
			happened = append(happened, failure)
		}
		switch {
		case !hasFallback:
			happened = append(happened, fallbackMissing)
		case fallbackErr != nil:
			happened = append(happened, fallbackFailure)
		default:
			happened = append(happened, fallbackSuccess)
		}
	}
	if result != nil {
		happened = append(happened, exceptionThrown)
	}
	return happened
}

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
