// Package request is one request to a route as the gateway read it: the route, the request
// message decoded once from the body and headers, the caller once a token has been verified,
// and how the service answered. Every layer after the decoding (authentication, the limits and
// the lock, the call itself) decides on this one reading; none of them reads the body again,
// so no two of them can disagree about what was asked or for whom.
package request

import (
	"context"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/gomicro-stack/gomicro-stack/gateway/routes"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Request is one decoded request. It belongs to the request's goroutine.
type Request struct {
	// Route is the route the request is for.
	Route *routes.Route
	// Message is the route's request message, decoded strictly and validated.
	Message proto.Message

	caller        auth.Identity
	authenticated bool
	answered      bool
	reason        apipb.Reason
}

// Authenticated records the caller a verified token names.
func (r *Request) Authenticated(caller auth.Identity) { r.caller, r.authenticated = caller, true }

// Caller is the verified caller, if a token was verified.
func (r *Request) Caller() (auth.Identity, bool) { return r.caller, r.authenticated }

// Subject is the account the request is about, in canonical form (lower case, as the user
// service's account.Canonical; FuzzOneReading holds the two together): the value of the
// message's subject field, else the verified caller's username, else "".
func (r *Request) Subject() string {
	switch {
	case r.Route.Subject != nil:
		return strings.ToLower(r.Message.ProtoReflect().Get(r.Route.Subject).String())
	case r.authenticated:
		return strings.ToLower(r.caller.Username)
	}
	return ""
}

// Answered records that the service answered: reason is REASON_UNSPECIFIED for a success, the
// service's reason for an error of its own.
func (r *Request) Answered(reason apipb.Reason) { r.answered, r.reason = true, reason }

// Answer says whether the service answered the request itself, and with which reason.
func (r *Request) Answer() (apipb.Reason, bool) { return r.reason, r.answered }

type key struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r *Request) context.Context { return context.WithValue(ctx, key{}, r) }

// From is the request ctx carries, or nil before the decoding.
func From(ctx context.Context) *Request {
	r, _ := ctx.Value(key{}).(*Request)
	return r
}
