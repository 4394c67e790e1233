// Package rpcerror turns a service's domain errors into go-micro errors with HTTP codes, the
// one way every handler does it: a table of rules per service, read top to bottom. The client
// reads the domain error's own text; anything no rule names is logged and answered 500
// "internal error", so that no internal detail leaves the service.
package rpcerror

import (
	"errors"
	"net/http"

	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/logger"
)

// Rule maps domain errors to a code.
type Rule struct {
	// Is is a domain error, matched with errors.Is; the client reads its text (not the context
	// wrapped around it).
	Is error
	// As matches a family of errors instead and says the text the client reads.
	As func(error) (message string, ok bool)
	// Code is the HTTP status.
	Code int
	// Status marks the go-micro error (breaker.StatusShedding: not the service's failure).
	Status string
}

// Translate is err as service answers it under rules.
func Translate(service string, err error, rules []Rule) error {
	for _, r := range rules {
		if r.Is != nil && errors.Is(err, r.Is) {
			return &merrors.Error{Id: service, Code: int32(r.Code), Detail: r.Is.Error(), Status: statusOf(r)}
		}
		if r.As != nil {
			if message, ok := r.As(err); ok {
				return &merrors.Error{Id: service, Code: int32(r.Code), Detail: message, Status: statusOf(r)}
			}
		}
	}
	// Details stay in our log; the client learns only that it was our fault.
	logger.Errorf("internal error: %v", err)
	return merrors.InternalServerError(service, "internal error")
}

func statusOf(r Rule) string {
	if r.Status != "" {
		return r.Status
	}
	return http.StatusText(r.Code)
}
