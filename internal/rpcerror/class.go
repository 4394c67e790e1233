package rpcerror

import (
	"errors"
	"net/http"

	merrors "github.com/micro/go-micro/v2/errors"
)

// Class says how a call failed, decided by codes (see microsvc's client interceptor), never by
// an error's text: whether the request reached the node, and whether a handler answered.
type Class int

const (
	// Answered: a handler (or the gRPC server in front of it) answered with an error; its
	// code and reason say what it means.
	Answered Class = iota
	// NotSent: the request could not be put on the wire (invalid UTF-8 in a string field, a
	// metadata value gRPC cannot carry): the request's fault, not the node's.
	NotSent
	// Unreachable: nothing was sent; the node refused the connection or could not be reached.
	// Any call may be tried on another node.
	Unreachable
	// Lost: the request was sent and the connection failed before an answer; the call may
	// have run.
	Lost
	// TimedOut: no answer within the deadline.
	TimedOut
	// Canceled: the caller gave up.
	Canceled
)

// ClientID is the go-micro error id of failures the calling side reports itself.
const ClientID = "go.micro.client"

// classStatus is the status the client's errors carry for each class but Answered.
var classStatus = map[Class]string{
	NotSent:     "NOT_SENT",
	Unreachable: "UNREACHABLE",
	Lost:        "CONNECTION_LOST",
	TimedOut:    "TIMED_OUT",
	Canceled:    "CANCELED",
}

var classHTTP = map[Class]int{
	NotSent:     http.StatusBadRequest,
	Unreachable: http.StatusServiceUnavailable,
	Lost:        http.StatusServiceUnavailable,
	TimedOut:    http.StatusRequestTimeout,
	Canceled:    499, // nginx's "client closed request": no one is left to read it
}

// ClientError is the error of a call that failed as class c (not Answered).
func ClientError(c Class, detail string) *merrors.Error {
	return &merrors.Error{Id: ClientID, Code: int32(classHTTP[c]), Detail: detail, Status: classStatus[c]}
}

// ClassOf is how err's call failed, and err as a go-micro error. A client error that no class
// names (go-micro's own, such as a service with no node in the registry) counts as
// Unreachable, and go-micro's own timeout as TimedOut.
func ClassOf(err error) (Class, *merrors.Error) {
	var e *merrors.Error
	if !errors.As(err, &e) {
		e = merrors.Parse(err.Error())
	}
	if e.Id != ClientID {
		return Answered, e
	}
	for c, s := range classStatus {
		if e.Status == s {
			return c, e
		}
	}
	if e.Code == http.StatusRequestTimeout {
		return TimedOut, e
	}
	return Unreachable, e
}
