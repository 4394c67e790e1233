package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/micro/go-micro/v2/client"
	"github.com/micro/go-micro/v2/client/selector"
	"github.com/micro/go-micro/v2/metadata"
	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-micro/v2/registry/memory"
	"github.com/micro/go-micro/v2/server"
	grpcserver "github.com/micro/go-micro/v2/server/grpc"
	"google.golang.org/grpc"
	gmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcclient"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

// The go-micro floor: the bare chain's hops with go-micro v2's gRPC server for the greeter and
// the user service and our client (internal/rpcclient, as ours calls) between them, the
// handlers as bare as the bare chain's: no assertion, breaker, metrics, tracing, validation or
// Consul (an in-memory registry). What a greeter or a user service costs here beyond it is
// ours; what it costs beyond the bare chain's is go-micro's.

const floorUserService = "bench.user"

// floorUser answers GetUserInfo from the caller's id in the metadata, as the bare user does.
type floorUser struct{ userpb.UserHandler }

func (floorUser) GetUserInfo(ctx context.Context, _ *userpb.GetUserInfoRequest, out *userpb.GetUserInfoResponse) error {
	text, _ := metadata.Get(ctx, "X-Example-Id")
	id, _ := strconv.ParseUint(text, 10, 64)
	if id != 1 {
		return fmt.Errorf("user %d not found", id)
	}
	out.Id, out.Username = id, "bench"
	return nil
}

// floorGreeter asks the user service for the caller's profile and greets.
type floorGreeter struct{ users userpb.UserService }

func (g floorGreeter) Hello(ctx context.Context, in *greeterpb.HelloRequest, out *greeterpb.HelloReply) error {
	profile, err := g.users.GetUserInfo(ctx, &userpb.GetUserInfoRequest{})
	if err != nil {
		return err
	}
	out.Id, out.Username = wrapperspb.UInt64(profile.Id), profile.Username
	out.Greeting = "Hello " + in.Name
	return nil
}

// serveMicro runs a go-micro gRPC server named name at address with register's handlers.
func serveMicro(name, address string, register func(server.Server) error) error {
	srv := grpcserver.NewServer(server.Name(name), server.Address(address), server.Registry(memory.NewRegistry()))
	if err := register(srv); err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	select {}
}

func serveMicroUser(address string) error {
	return serveMicro(floorUserService, address, func(s server.Server) error { return userpb.RegisterUserHandler(s, floorUser{}) })
}

func serveMicroGreeter(address, userAddress string) error {
	reg := memory.NewRegistry()
	if err := reg.Register(&registry.Service{Name: floorUserService, Version: "latest", Nodes: []*registry.Node{{Id: "user-1", Address: userAddress}}}); err != nil {
		return err
	}
	rpc := rpcclient.New(nil, client.Registry(reg), client.Selector(selector.NewSelector(selector.Registry(reg))))
	users := userpb.NewUserService(floorUserService, rpc)
	return serveMicro("bench.greeter", address, func(s server.Server) error { return greeterpb.RegisterGreeterHandler(s, floorGreeter{users: users}) })
}

// serveMicroFront is the bare front for go-micro's greeter: the body read into the greeter's
// request, the reply written as JSON.
func serveMicroFront(address, greeterAddress, secret string) error {
	return serveFront(address, greeterAddress, secret, func(w http.ResponseWriter, r *http.Request, conn *grpc.ClientConn, id auth.Identity, body []byte) {
		in := new(greeterpb.HelloRequest)
		if err := protojson.Unmarshal(body, in); err != nil {
			http.Error(w, `{"code":400,"message":"bad body"}`, http.StatusBadRequest)
			return
		}
		// The headers go-micro's client sends and its server reads: the caller's, its timeout and
		// the content type.
		ctx := gmetadata.AppendToOutgoingContext(r.Context(), "x-example-id", strconv.FormatUint(id.UserID, 10),
			"timeout", strconv.FormatInt(int64(5*time.Second), 10), "x-content-type", "application/grpc+proto")
		out := new(greeterpb.HelloReply)
		if err := conn.Invoke(ctx, "/bench.greeter.Greeter/Hello", in, out, grpc.CallContentSubtype("proto")); err != nil {
			http.Error(w, `{"code":503,"message":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		answer, err := protojson.Marshal(out)
		if err != nil {
			http.Error(w, `{"code":500,"message":"encode"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})
}
