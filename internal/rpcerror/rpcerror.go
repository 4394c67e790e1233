// Package rpcerror turns a service's domain errors into go-micro errors, the one way every
// handler does it: a table of rules per service, read top to bottom, each naming the
// gomicro.api.Reason (proto/api) of a domain error. The reason decides the HTTP status (its
// http_status option, read by apispec.Status) and travels as the go-micro error's status, where
// the gateway puts it in the error body and breakers read it. The client reads the domain
// error's own text; anything no rule names is logged and answered 500 "internal error", so that
// no internal detail leaves the service.
package rpcerror

import (
	"context"
	"errors"

	merrors "github.com/micro/go-micro/v2/errors"

	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Rule maps domain errors to a reason.
type Rule struct {
	// Is is a domain error, matched with errors.Is; the client reads its text (not the context
	// wrapped around it).
	Is error
	// As matches a family of errors instead and says the text the client reads.
	As func(error) (message string, ok bool)
	// Reason says why, for clients and breakers, and with it the HTTP status.
	Reason apipb.Reason
}

// New is the go-micro error with which service answers a reason.
func New(service string, reason apipb.Reason, message string) error {
	return &merrors.Error{Id: service, Code: int32(apispec.Status(reason)), Detail: message, Status: reason.String()}
}

// Translate is err as service answers it under rules.
func Translate(ctx context.Context, service string, err error, rules []Rule) error {
	var invalid *apispec.InvalidError
	if errors.As(err, &invalid) {
		return New(service, apipb.Reason_INVALID_ARGUMENT, invalid.Error())
	}
	for _, r := range rules {
		if r.Is != nil && errors.Is(err, r.Is) {
			return New(service, r.Reason, r.Is.Error())
		}
		if r.As != nil {
			if message, ok := r.As(err); ok {
				return New(service, r.Reason, message)
			}
		}
	}
	// Details stay in our log; the client learns only that it was our fault.
	tracing.Log(ctx).Errorf("internal error: %v", err)
	return New(service, apipb.Reason_INTERNAL, "internal error")
}
