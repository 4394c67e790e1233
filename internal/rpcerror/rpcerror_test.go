package rpcerror

import (
	"errors"
	"fmt"
	"testing"

	merrors "github.com/micro/go-micro/v2/errors"
)

var (
	errTaken = errors.New("username is already taken")
	errBusy  = errors.New("too busy")
)

type invalid struct{ field string }

func (e *invalid) Error() string { return e.field + " is invalid" }

var rules = []Rule{
	{As: func(err error) (string, bool) {
		var e *invalid
		if errors.As(err, &e) {
			return e.Error(), true
		}
		return "", false
	}, Code: 400},
	{Is: errTaken, Code: 409},
	{Is: errBusy, Code: 503, Status: "Shedding Load"},
}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		err            error
		code           int32
		detail, status string
	}{
		{fmt.Errorf("register alice: %w", errTaken), 409, "username is already taken", "Conflict"},
		{fmt.Errorf("wrapped: %w", &invalid{"name"}), 400, "name is invalid", "Bad Request"},
		{errBusy, 503, "too busy", "Shedding Load"},
		{fmt.Errorf("select user: connection to 10.0.0.3 lost"), 500, "internal error", "Internal Server Error"},
	} {
		got := merrors.Parse(Translate("svc", tc.err, rules).Error())
		if got.Id != "svc" || got.Code != tc.code || got.Detail != tc.detail || got.Status != tc.status {
			t.Errorf("%v → %+v, want %d %q %q", tc.err, got, tc.code, tc.detail, tc.status)
		}
	}
}
