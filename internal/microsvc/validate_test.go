package microsvc

import (
	"context"
	"testing"

	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/server"

	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

type request struct {
	server.Request
	body interface{}
}

func (r request) Body() interface{} { return r.body }

func TestValidateRequests(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    interface{}
		handled bool
	}{
		{"valid", &userpb.RegisterRequest{Username: "alice", Password: "password1"}, true},
		{"broken rule", &userpb.RegisterRequest{Username: "al", Password: "password1"}, false},
		{"no rules", &userpb.GetUserInfoRequest{}, true},
		{"not a message", []byte("raw"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handled := false
			h := ValidateRequests("svc")(func(context.Context, server.Request, interface{}) error {
				handled = true
				return nil
			})
			err := h(context.Background(), request{body: tc.body}, nil)
			if handled != tc.handled {
				t.Fatalf("handled %v, want %v (%v)", handled, tc.handled, err)
			}
			if e := merrors.Parse(errString(err)); !tc.handled && (e.Code != 400 || e.Status != "INVALID_ARGUMENT" || e.Id != "svc") {
				t.Fatalf("error %+v", e)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
