// Package rpcclient is go-micro's gRPC client with a lean unary call: the same client.Client,
// options, selector, retries, call wrappers, metadata and error mapping, but each attempt runs
// in the caller's goroutine on one multiplexed connection per node.
//
// go-micro v2's own Call starts a goroutine per attempt and another per gRPC invocation (both
// grow their stacks through the whole call chain, copied each time), builds a TLS
// configuration on every call even for plaintext nodes, formats the timeout header with
// fmt.Sprintf and copies the metadata twice: under load that was a tenth of the gateway's and
// the greeter's allocations and most of their stack copying. Everything else (streams,
// publishing, requests of other content types) goes to go-micro's client as before.
package rpcclient

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micro/go-micro/v2/client"
	grpcclient "github.com/micro/go-micro/v2/client/grpc"
	"github.com/micro/go-micro/v2/client/selector"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"
	"github.com/micro/go-micro/v2/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	gmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// clientID is the go-micro error id of failures the calling side reports itself.
const clientID = "go.micro.client"

// idleAfter is how long a node's connection may go unused before it is closed (at the next
// new connection): nodes come and go, and their connections must not pile up.
const idleAfter = 10 * time.Minute

// New is go-micro's gRPC client made with opts, whose unary calls of protobuf requests go
// through dial (plus go-micro's message size limits) on plaintext connections, as go-micro
// dials every node without TLS settings.
func New(dial []grpc.DialOption, opts ...client.Option) client.Client {
	micro := grpcclient.NewClient(opts...)
	dial = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// go-micro's default largest messages
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcclient.DefaultMaxRecvMsgSize), grpc.MaxCallSendMsgSize(grpcclient.DefaultMaxSendMsgSize)),
	}, dial...)
	return &leanClient{Client: micro, opts: micro.Options(), dial: dial, conns: map[string]*nodeConn{}}
}

type leanClient struct {
	client.Client
	opts client.Options
	dial []grpc.DialOption

	mu    sync.RWMutex
	conns map[string]*nodeConn // by node address
}

type nodeConn struct {
	*grpc.ClientConn
	lastUsed atomic.Int64 // unix nanoseconds
}

// protoContentTypes are the content types whose requests the lean call sends, with grpc's
// protobuf codec (what go-micro's codec for them does).
var protoContentTypes = map[string]bool{"application/grpc": true, "application/grpc+proto": true, "application/protobuf": true}

func (c *leanClient) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	if req == nil || rsp == nil || !protoContentTypes[req.ContentType()] {
		return c.Client.Call(ctx, req, rsp, opts...)
	}
	callOpts := c.opts.CallOptions
	for _, opt := range opts {
		opt(&callOpts)
	}
	next, err := c.next(req, callOpts)
	if err != nil {
		return err
	}
	// As go-micro: the caller's deadline if it has one, else the request timeout.
	if d, ok := ctx.Deadline(); ok {
		callOpts.RequestTimeout = time.Until(d)
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callOpts.RequestTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return merrors.New(clientID, err.Error(), 408)
	}
	call := c.call
	for i := len(callOpts.CallWrappers); i > 0; i-- {
		call = callOpts.CallWrappers[i-1](call)
	}
	service := req.Service()
	var last error
	for attempt := 0; attempt <= callOpts.Retries; attempt++ {
		wait, err := callOpts.Backoff(ctx, req, attempt)
		if err != nil {
			return merrors.InternalServerError(clientID, "%s", err.Error())
		}
		if wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return merrors.New(clientID, err.Error(), 408)
			}
		}
		if attempt > 0 {
			// Chosen afresh: the selector now knows how the last node failed (it skips one
			// that is down and, if it knew no other, looks past its cache).
			if again, err := c.next(req, callOpts); err == nil {
				next = again
			}
		}
		node, err := next()
		if err != nil {
			err = selectError(service, err)
		} else {
			err = call(ctx, node, req, rsp, callOpts)
			c.opts.Selector.Mark(service, node, err)
		}
		if err == nil {
			return nil
		}
		retry, rerr := callOpts.Retry(ctx, req, attempt, err)
		if rerr != nil {
			return rerr
		}
		if !retry {
			return err
		}
		last = err
	}
	return last
}

// next is go-micro's: the addresses the call names, else the selector's nodes.
func (c *leanClient) next(req client.Request, opts client.CallOptions) (selector.Next, error) {
	if len(opts.Address) > 0 {
		address := opts.Address[0]
		return func() (*registry.Node, error) { return &registry.Node{Address: address}, nil }, nil
	}
	next, err := c.opts.Selector.Select(req.Service(), opts.SelectOptions...)
	if err != nil {
		return nil, selectError(req.Service(), err)
	}
	return next, nil
}

func selectError(service string, err error) error {
	if errors.Is(err, selector.ErrNotFound) {
		return merrors.InternalServerError(clientID, "service %s: %s", service, err.Error())
	}
	return merrors.InternalServerError(clientID, "error selecting %s node: %s", service, err.Error())
}

// call is one attempt on node, with the headers go-micro's server reads: the caller's
// metadata (names in lower case), the timeout in nanoseconds and the content type.
func (c *leanClient) call(ctx context.Context, node *registry.Node, req client.Request, rsp interface{}, opts client.CallOptions) error {
	md, _ := metadata.FromContext(ctx)
	header := make(gmetadata.MD, len(md)+1)
	for k, v := range md {
		header[strings.ToLower(k)] = []string{v}
	}
	// No "timeout" header, which go-micro's client sends: the deadline travels as gRPC's own
	// (grpc-timeout), which the server's context already has; with it, go-micro's server would
	// make a second deadline context for every call.
	header["x-content-type"] = []string{req.ContentType()}
	conn, err := c.conn(node.Address)
	if err != nil {
		return merrors.InternalServerError(clientID, "Error sending request: %v", err)
	}
	err = conn.Invoke(gmetadata.NewOutgoingContext(ctx, header), method(req.Service(), req.Endpoint()), req.Body(), rsp,
		grpc.CallContentSubtype("proto"))
	return microError(err)
}

// conn is the node's connection, made on first use (gRPC connects lazily and reconnects by
// itself after a failure).
func (c *leanClient) conn(address string) (*nodeConn, error) {
	now := time.Now().UnixNano()
	c.mu.RLock()
	conn, ok := c.conns[address]
	c.mu.RUnlock()
	if ok {
		conn.lastUsed.Store(now)
		return conn, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conns[address]; ok {
		return conn, nil
	}
	for other, idle := range c.conns {
		if now-idle.lastUsed.Load() > int64(idleAfter) {
			idle.Close()
			delete(c.conns, other)
		}
	}
	cc, err := grpc.NewClient("passthrough:///"+address, c.dial...)
	if err != nil {
		return nil, err
	}
	conn = &nodeConn{ClientConn: cc}
	conn.lastUsed.Store(now)
	c.conns[address] = conn
	return conn, nil
}

// method is go-micro's gRPC method name of an endpoint: Foo.Bar of service pkg is
// /pkg.Foo/Bar.
func method(service, endpoint string) string {
	if endpoint == "" || endpoint[0] == '/' {
		return endpoint
	}
	name, fn, ok := strings.Cut(endpoint, ".")
	if !ok || strings.Contains(fn, ".") {
		return endpoint
	}
	if service == "" {
		return "/" + name + "/" + fn
	}
	return "/" + service + "." + name + "/" + fn
}

// microError is go-micro's reading of a gRPC error: the go-micro error a handler answered
// (in the status details or message), else a 500.
func microError(err error) error {
	if err == nil {
		return nil
	}
	var verr *merrors.Error
	if errors.As(err, &verr) {
		return verr
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	if details := s.Details(); len(details) > 0 {
		if derr, ok := details[0].(error); ok {
			return microError(derr)
		}
	}
	if e := merrors.Parse(s.Message()); e.Code > 0 {
		return e
	}
	return merrors.InternalServerError(clientID, "%s", s.Message())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
