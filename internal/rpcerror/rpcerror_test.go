package rpcerror

import (
	"context"
	"errors"
	"fmt"
	"testing"

	merrors "github.com/micro/go-micro/v2/errors"

	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
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
	}, Reason: apipb.Reason_INVALID_ARGUMENT},
	{Is: errTaken, Reason: apipb.Reason_USERNAME_TAKEN},
	{Is: errBusy, Reason: apipb.Reason_OVERLOADED},
}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		err            error
		code           int32
		detail, status string
	}{
		{fmt.Errorf("register alice: %w", errTaken), 409, "username is already taken", "USERNAME_TAKEN"},
		{fmt.Errorf("wrapped: %w", &invalid{"name"}), 400, "name is invalid", "INVALID_ARGUMENT"},
		{errBusy, 503, "too busy", "OVERLOADED"},
		{fmt.Errorf("decode: %w", &apispec.InvalidError{Problems: []string{"name: too long"}}), 400, "name: too long", "INVALID_ARGUMENT"},
		{fmt.Errorf("select user: connection to 10.0.0.3 lost"), 500, "internal error", "INTERNAL"},
	} {
		got := merrors.Parse(Translate(context.Background(), "svc", tc.err, rules).Error())
		if got.Id != "svc" || got.Code != tc.code || got.Detail != tc.detail || got.Status != tc.status {
			t.Errorf("%v → %+v, want %d %q %q", tc.err, got, tc.code, tc.detail, tc.status)
		}
	}
}

// TestEveryReasonHasAStatus: a reason added to the enum without its http_status would answer
// 500; each must say its status, and only the unspecified and internal ones may be 500.
func TestEveryReasonHasAStatus(t *testing.T) {
	values := apipb.Reason(0).Descriptor().Values()
	for i := 0; i < values.Len(); i++ {
		r := apipb.Reason(values.Get(i).Number())
		status := apispec.Status(r)
		if status < 400 || status > 599 || (status == 500 && r != apipb.Reason_INTERNAL && r != apipb.Reason_REASON_UNSPECIFIED) {
			t.Errorf("%s: status %d", r, status)
		}
	}
}
