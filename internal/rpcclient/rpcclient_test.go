package rpcclient

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/client"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"
	"google.golang.org/grpc"
	gmetadata "google.golang.org/grpc/metadata"

	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

func TestMethod(t *testing.T) {
	for _, tc := range []struct{ service, endpoint, want string }{
		{"go.micro.api.user", "User.GetUserInfo", "/go.micro.api.user.User/GetUserInfo"},
		{"", "User.GetUserInfo", "/User/GetUserInfo"},
		{"go.micro.api.user", "/already/grpc", "/already/grpc"},
		{"go.micro.api.user", "a.b.c", "a.b.c"},
		{"go.micro.api.user", "", ""},
	} {
		if got := method(tc.service, tc.endpoint); got != tc.want {
			t.Errorf("method(%q, %q) = %q, want %q", tc.service, tc.endpoint, got, tc.want)
		}
	}
}

// TestCallSendsWhatGoMicroServersRead: the method name, the caller's metadata (names in lower
// case) and the content type, as go-micro's client sends them, and the caller's deadline as
// gRPC's; a go-micro error in the answer comes back as that error.
func TestCallSendsWhatGoMicroServersRead(t *testing.T) {
	seen, deadline := make(chan gmetadata.MD, 1), make(chan time.Time, 1)
	var path string
	server := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		path, _ = grpc.MethodFromServerStream(stream)
		md, _ := gmetadata.FromIncomingContext(stream.Context())
		seen <- md
		// The caller's deadline, as gRPC carries it (grpc-timeout): go-micro's server keeps it.
		d, _ := stream.Context().Deadline()
		deadline <- d
		return merrors.NotFound("go.micro.api.user", "no user 7")
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(l)
	t.Cleanup(server.Stop)

	rpc := New(nil, client.Retries(0))
	ctx, cancel := context.WithTimeout(metadata.NewContext(context.Background(), metadata.Metadata{"X-Example-Assertion": "signed"}), 2*time.Second)
	defer cancel()
	req := rpc.NewRequest("go.micro.api.user", "User.GetUserInfo", &userpb.GetUserInfoRequest{})
	err = rpc.Call(ctx, req, &userpb.GetUserInfoResponse{}, client.WithAddress(l.Addr().String()))
	if e, ok := err.(*merrors.Error); !ok || e.Code != 404 || e.Detail != "no user 7" {
		t.Fatalf("the handler's error came back as %#v", err)
	}
	md := <-seen
	left := time.Until(<-deadline)
	if path != "/go.micro.api.user.User/GetUserInfo" || first(md, "x-example-assertion") != "signed" ||
		first(md, "x-content-type") != "application/grpc+proto" || left <= 0 || left > 2*time.Second || len(md.Get("timeout")) > 0 {
		t.Fatalf("method %q, metadata %v, deadline in %s", path, md, left)
	}
}

func first(md gmetadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
