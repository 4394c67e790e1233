// Command gozeropeer is the authenticated hello of gomicro-stack built on go-zero, as a go-zero
// user would build it, for `make bench` to load beside ours: a rest gateway with rest.WithJwt
// (HS256) calling a zrpc greeter, which calls a zrpc user service holding its users in memory.
// Each part runs as its own process:
//
//	gozeropeer user    -listen ADDR
//	gozeropeer greeter -listen ADDR -user ADDR
//	gozeropeer front   -listen ADDR -greeter ADDR   (JWT_SECRET in the environment)
//
// Every setting is go-zero's default (loaded through its conf package, so its `default=` tags
// apply), but the addresses and, with -shedding=false, its adaptive load shedding: CpuThreshold
// 0 on the rest server and on both zrpc servers, and the rest Shedding middleware off. Endpoints
// are direct (no etcd), as the issue measured. It is a module of its own so that go-zero stays
// out of the services' dependency graph.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"
	"github.com/zeromicro/go-zero/zrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"gozeropeer/hellopb"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gozeropeer user|greeter|front -listen ADDR ...")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := flags.String("listen", "127.0.0.1:0", "listen address")
	userAddr := flags.String("user", "", "the user service's address (greeter)")
	greeterAddr := flags.String("greeter", "", "the greeter's address (front)")
	shedding := flags.Bool("shedding", true, "go-zero's adaptive load shedding (its default: on)")
	flags.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "user":
		err = serveUser(*listen, *shedding)
	case "greeter":
		err = serveGreeter(*listen, *userAddr, *shedding)
	case "front":
		err = serveFront(*listen, *greeterAddr, os.Getenv("JWT_SECRET"), *shedding)
	default:
		err = fmt.Errorf("unknown part %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gozeropeer:", err)
		os.Exit(1)
	}
}

// rpcServerConf is go-zero's default zrpc server configuration for name on listen.
func rpcServerConf(name, listen string, shedding bool) (zrpc.RpcServerConf, error) {
	var c zrpc.RpcServerConf
	if err := conf.LoadFromYamlBytes([]byte("Name: "+name+"\nListenOn: "+listen+"\n"), &c); err != nil {
		return c, err
	}
	if !shedding {
		c.CpuThreshold = 0
	}
	return c, nil
}

// rpcClient is go-zero's default zrpc client of a direct endpoint.
func rpcClient(endpoint string) (zrpc.Client, error) {
	var c zrpc.RpcClientConf
	if err := conf.LoadFromYamlBytes([]byte("Endpoints:\n  - "+endpoint+"\n"), &c); err != nil {
		return nil, err
	}
	return zrpc.NewClient(c)
}

// userServer holds one user, id 1 named bench, as the bench's token names it.
type userServer struct {
	hellopb.UnimplementedUserServer
	users map[uint64]string
}

func (s *userServer) GetUserInfo(_ context.Context, in *hellopb.UserRequest) (*hellopb.UserReply, error) {
	name, ok := s.users[in.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "user %d not found", in.GetId())
	}
	return &hellopb.UserReply{Id: in.GetId(), Username: name}, nil
}

func serveUser(listen string, shedding bool) error {
	c, err := rpcServerConf("user.rpc", listen, shedding)
	if err != nil {
		return err
	}
	server, err := zrpc.NewServer(c, func(s *grpc.Server) {
		hellopb.RegisterUserServer(s, &userServer{users: map[uint64]string{1: "bench"}})
	})
	if err != nil {
		return err
	}
	server.Start()
	return nil
}

type greeterServer struct {
	hellopb.UnimplementedGreeterServer
	users hellopb.UserClient
}

// settingMessage is the configured text every target answers.
const settingMessage = "Hi, here are greetings from gomicro-stack"

func (s *greeterServer) Hello(ctx context.Context, in *hellopb.HelloRequest) (*hellopb.HelloReply, error) {
	if in.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	user, err := s.users.GetUserInfo(ctx, &hellopb.UserRequest{Id: in.GetUserId()})
	if err != nil {
		return nil, err
	}
	return &hellopb.HelloReply{Id: user.GetId(), Username: user.GetUsername(), Greeting: "Hello " + in.GetName(),
		SettingMessage: settingMessage, Logins: 1}, nil
}

func serveGreeter(listen, userAddr string, shedding bool) error {
	c, err := rpcServerConf("greeter.rpc", listen, shedding)
	if err != nil {
		return err
	}
	users, err := rpcClient(userAddr)
	if err != nil {
		return err
	}
	server, err := zrpc.NewServer(c, func(s *grpc.Server) {
		hellopb.RegisterGreeterServer(s, &greeterServer{users: hellopb.NewUserClient(users.Conn())})
	})
	if err != nil {
		return err
	}
	server.Start()
	return nil
}

// helloRequest is the body of POST /greeter/hello.
type helloRequest struct {
	Name string `json:"name"`
}

// helloReply is the answer, the same JSON as ours.
type helloReply struct {
	Code           int    `json:"code"`
	Message        string `json:"message"`
	ID             uint64 `json:"id"`
	Username       string `json:"username"`
	Greeting       string `json:"greeting"`
	SettingMessage string `json:"setting_message"`
	Logins         int64  `json:"logins"`
}

func serveFront(listen, greeterAddr, secret string, shedding bool) error {
	var c rest.RestConf
	if err := conf.LoadFromYamlBytes([]byte("Name: gateway\nHost: 127.0.0.1\nPort: 0\n"), &c); err != nil {
		return err
	}
	host, port, err := splitHostPort(listen)
	if err != nil {
		return err
	}
	c.Host, c.Port = host, port
	if !shedding {
		c.CpuThreshold = 0
		c.Middlewares.Shedding = false
	}
	greeterConn, err := rpcClient(greeterAddr)
	if err != nil {
		return err
	}
	greeter := hellopb.NewGreeterClient(greeterConn.Conn())
	server, err := rest.NewServer(c)
	if err != nil {
		return err
	}
	server.AddRoute(rest.Route{Method: http.MethodPost, Path: "/greeter/hello", Handler: func(w http.ResponseWriter, r *http.Request) {
		var in helloRequest
		if err := httpx.Parse(r, &in); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		// rest.WithJwt puts every claim but the registered ones in the context; the bench's
		// token for this peer carries the user id as "uid", as go-zero applications do.
		number, _ := r.Context().Value("uid").(json.Number)
		uid, err := number.Int64()
		if err != nil || uid <= 0 {
			httpx.WriteJsonCtx(r.Context(), w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "no uid claim"})
			return
		}
		out, err := greeter.Hello(r.Context(), &hellopb.HelloRequest{Name: in.Name, UserId: uint64(uid)})
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		httpx.OkJsonCtx(r.Context(), w, helloReply{Message: "ok", ID: out.GetId(), Username: out.GetUsername(),
			Greeting: out.GetGreeting(), SettingMessage: out.GetSettingMessage(), Logins: out.GetLogins()})
	}}, rest.WithJwt(secret))
	server.Start()
	return nil
}

func splitHostPort(address string) (string, int, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	return host, n, err
}
