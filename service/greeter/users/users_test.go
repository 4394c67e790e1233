package users

import (
	"context"
	"errors"
	"testing"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
)

// answering is a client whose calls all get the same answer.
type answering struct {
	client.Client
	profile *userpb.GetUserInfoResponse
	err     error
}

func (a answering) Call(_ context.Context, _ client.Request, rsp interface{}, _ ...client.CallOption) error {
	if a.err != nil {
		return a.err
	}
	*rsp.(*userpb.GetUserInfoResponse) = userpb.GetUserInfoResponse{Id: a.profile.Id, Username: a.profile.Username}
	return nil
}

func TestCaller(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer answering
		want   greeting.Caller
		err    error
	}{
		{"found", answering{profile: &userpb.GetUserInfoResponse{Id: 7, Username: "alice"}}, greeting.Caller{ID: 7, Username: "alice"}, nil},
		{"unknown caller", answering{err: merrors.NotFound(ServiceName, "user not found")}, greeting.Caller{}, greeting.ErrUnknownCaller},
		{"unsigned caller", answering{err: merrors.Unauthorized(ServiceName, "caller identity missing")}, greeting.Caller{}, greeting.ErrNotAuthenticated},
		{"service down", answering{err: merrors.InternalServerError("go.micro.client", "connection refused")}, greeting.Caller{}, greeting.ErrDirectoryUnavailable},
		{"timeout", answering{err: merrors.Timeout("go.micro.client", "deadline exceeded")}, greeting.Caller{}, greeting.ErrDirectoryUnavailable},
		{"not a go-micro error", answering{err: errors.New("boom")}, greeting.Caller{}, greeting.ErrDirectoryUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.answer.Client = client.NewClient()
			d := NewDirectory(tc.answer)
			got, err := d.Caller(context.Background())
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestProfileFromToken(t *testing.T) {
	cause := errors.New("user service down")
	signed := auth.WithCaller(context.Background(), auth.Identity{UserID: 9, Username: "carol"})
	var rsp userpb.GetUserInfoResponse
	if err := ProfileFromToken(signed, nil, &rsp, cause); err != nil || rsp.Id != 9 || rsp.Username != "carol" {
		t.Fatalf("fallback with a signed caller: %+v, %v", &rsp, err)
	}
	// Without a verified caller there is nothing to offer: the cause goes on.
	if err := ProfileFromToken(context.Background(), nil, &userpb.GetUserInfoResponse{}, cause); err != cause {
		t.Fatalf("fallback without a caller: %v", err)
	}
	if err := ProfileFromToken(signed, nil, new(string), cause); err != cause {
		t.Fatalf("fallback with another response type: %v", err)
	}
	if GetUserInfoCommand != breaker.CommandName(ServiceName, "User.GetUserInfo") {
		t.Fatalf("command %q", GetUserInfoCommand)
	}
}
