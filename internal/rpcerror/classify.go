package rpcerror

import (
	"context"
	"net/http"
	"sync/atomic"

	merrors "github.com/micro/go-micro/v2/errors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// DialOptions are the gRPC dial options that make every failure of a call that no handler
// answered a go-micro error whose status names its Class (see ClassOf), decided by the gRPC
// code and by whether the request was sent (a stats handler sees the request's payload go
// out), then extra; internal/rpcclient dials with them. go-micro's client would flatten those
// failures into a 500 holding grpc's text, and the breakers and retries would have to read
// the text: a refused connection and one reset mid-call were told apart by the words
// "connection refused".
func DialOptions(extra ...grpc.DialOption) []grpc.DialOption {
	return append([]grpc.DialOption{grpc.WithChainUnaryInterceptor(classify), grpc.WithStatsHandler(sentTracker{})}, extra...)
}

type sentKey struct{}

func classify(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	sent := new(atomic.Bool)
	err := invoke(context.WithValue(ctx, sentKey{}, sent), method, req, reply, cc, opts...)
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok || len(st.Details()) > 0 || merrors.Parse(st.Message()).Code > 0 {
		return err // a go-micro error from the handler: go-micro's client reads it
	}
	if class := classOf(st.Code(), sent.Load()); class != Answered {
		return ClientError(class, st.Message())
	}
	// The gRPC server answered by itself (no such method, a message over its limit): the
	// code says what it means.
	return &merrors.Error{Id: "grpc", Code: int32(httpStatus(st.Code())), Detail: st.Message(), Status: st.Code().String()}
}

func httpStatus(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.FailedPrecondition:
		return http.StatusPreconditionFailed
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

func classOf(code codes.Code, sent bool) Class {
	switch {
	case code == codes.Canceled:
		return Canceled
	case code == codes.DeadlineExceeded:
		return TimedOut
	case code == codes.Unavailable && !sent:
		return Unreachable
	case code == codes.Unavailable:
		return Lost
	case !sent:
		// gRPC refused to send it: a message it could not marshal, metadata it cannot carry.
		return NotSent
	}
	return Answered
}

// sentTracker marks a call's request as sent once its payload has gone to the transport.
type sentTracker struct{}

func (sentTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (sentTracker) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, out := s.(*stats.OutPayload); out {
		if sent, ok := ctx.Value(sentKey{}).(*atomic.Bool); ok {
			sent.Store(true)
		}
	}
}
func (sentTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (sentTracker) HandleConn(context.Context, stats.ConnStats)                       {}
