package apispec

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/names"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

func TestRoutesComeFromTheProto(t *testing.T) {
	routes, err := Routes(userpb.File_user_user_proto, greeterpb.File_greeter_greeter_proto)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range routes {
		got = append(got, strings.Join([]string{r.HTTPMethod, r.Path, r.Service, r.Endpoint, strconv.Itoa(r.Status), public(r.Public)}, " "))
	}
	want := []string{
		"POST /greeter/hello go.micro.api.greeter Greeter.Hello 200 token",
		"POST /user/delete go.micro.api.user User.Delete 200 token",
		"POST /user/login go.micro.api.user User.Login 200 public",
		"POST /user/logout go.micro.api.user User.Logout 200 token",
		"POST /user/refresh go.micro.api.user User.Refresh 200 public",
		"POST /user/register go.micro.api.user User.Register 201 public",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range routes {
		if r.Service != names.User && r.Service != names.Greeter {
			t.Errorf("%s routes to %s, which internal/names does not name", r.Path, r.Service)
		}
	}
	// The same file twice routes every path twice: refused.
	if _, err := Routes(userpb.File_user_user_proto, userpb.File_user_user_proto); err == nil {
		t.Fatal("a path routed twice was accepted")
	}
}

func public(p bool) string {
	if p {
		return "public"
	}
	return "token"
}

func TestHeaderAndStatus(t *testing.T) {
	fields := (&userpb.RegisterRequest{}).ProtoReflect().Descriptor().Fields()
	if h := Header(fields.ByName("idempotency_key")); h != "Idempotency-Key" {
		t.Fatalf("idempotency_key travels in %q", h)
	}
	if h := Header(fields.ByName("username")); h != "" {
		t.Fatalf("username travels in %q", h)
	}
	if Status(apipb.Reason_USERNAME_TAKEN) != 409 || Status(apipb.Reason(999)) != 500 {
		t.Fatal("reason statuses")
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(&userpb.RegisterRequest{Username: "alice", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	err := Validate(&userpb.RegisterRequest{Username: "a b", Password: "short", IdempotencyKey: "has space"})
	var invalid *InvalidError
	if !errors.As(err, &invalid) || len(invalid.Problems) != 3 {
		t.Fatalf("%v: want the three broken rules", err)
	}
	// Fields are named as clients spell them: proto names, headers for header fields.
	for i, prefix := range []string{"username: ", "password: ", "Idempotency-Key: "} {
		if !strings.HasPrefix(invalid.Problems[i], prefix) {
			t.Errorf("problem %q, want it to start with %q", invalid.Problems[i], prefix)
		}
	}
	if Validate(&apipb.Error{}) != nil {
		t.Fatal("a message without rules failed")
	}
}
