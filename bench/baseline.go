package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	api "github.com/micro/go-micro/v2/api/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

// The baselines run as processes of this same binary (bench serve-...), so that they are
// started, loaded and measured exactly as our services are.

// helloJSON is the answer every target gives, the same bytes as our greeter's.
func helloJSON(id uint64, username string) []byte {
	return []byte(`{"code":0,"message":"ok","id":` + strconv.FormatUint(id, 10) + `,"username":` + strconv.Quote(username) +
		`,"greeting":"Hello bench","setting_message":"Hi, here are greetings from gomicro-stack","logins":1}`)
}

// serveNetHTTP is the machine's ceiling: one net/http handler answering the same JSON.
func serveNetHTTP(address string) error {
	body := helloJSON(1, "bench")
	return http.ListenAndServe(address, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name string `json:"name"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
}

// The bare chain: HTTP → JWT verify → grpc-go → grpc-go → in-memory user, our hops without a
// framework: no registry, no breaker, no go-micro.

var userDesc = grpc.ServiceDesc{
	ServiceName: "bench.User",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "GetUserInfo", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(userpb.GetUserInfoRequest)
		if err := dec(in); err != nil {
			return nil, err
		}
		md, _ := metadata.FromIncomingContext(ctx)
		id, _ := strconv.ParseUint(first(md, "x-example-id"), 10, 64)
		name, ok := srv.(map[uint64]string)[id]
		if !ok {
			return nil, fmt.Errorf("user %d not found", id)
		}
		return &userpb.GetUserInfoResponse{Id: id, Username: name}, nil
	}}},
}

var greeterDesc = grpc.ServiceDesc{
	ServiceName: "bench.Greeter",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Hello", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(api.Request)
		if err := dec(in); err != nil {
			return nil, err
		}
		var body struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(in.Body), &body); err != nil {
			return nil, err
		}
		md, _ := metadata.FromIncomingContext(ctx)
		profile := new(userpb.GetUserInfoResponse)
		out := metadata.NewOutgoingContext(ctx, md)
		if err := srv.(*grpc.ClientConn).Invoke(out, "/bench.User/GetUserInfo", &userpb.GetUserInfoRequest{}, profile); err != nil {
			return nil, err
		}
		return &api.Response{StatusCode: 200, Body: string(helloJSON(profile.Id, profile.Username))}, nil
	}}},
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func serveGRPC(address string, desc *grpc.ServiceDesc, impl any) error {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	s.RegisterService(desc, impl)
	return s.Serve(l)
}

// serveBareUser holds one user, id 1 named bench.
func serveBareUser(address string) error {
	return serveGRPC(address, &userDesc, map[uint64]string{1: "bench"})
}

func serveBareGreeter(address, userAddress string) error {
	conn, err := grpc.Dial(userAddress, grpc.WithInsecure())
	if err != nil {
		return err
	}
	return serveGRPC(address, &greeterDesc, conn)
}

// serveFront is a baseline's front: the token verified as our gateway does and the body read,
// then call answers with the greeter's connection.
func serveFront(address, greeterAddress, secret string, call func(w http.ResponseWriter, r *http.Request, greeter *grpc.ClientConn, id auth.Identity, body []byte)) error {
	keys, err := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: secret, Issuer: "gomicro-stack"}, TTL: time.Hour})
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(greeterAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	return http.ListenAndServe(address, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := keys.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			http.Error(w, `{"code":401,"message":"please login"}`, http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"code":400,"message":"bad body"}`, http.StatusBadRequest)
			return
		}
		call(w, r, conn, id, body)
	}))
}

// serveBareFront calls the bare greeter with the body as it came.
func serveBareFront(address, greeterAddress, secret string) error {
	return serveFront(address, greeterAddress, secret, func(w http.ResponseWriter, r *http.Request, conn *grpc.ClientConn, id auth.Identity, body []byte) {
		ctx := metadata.AppendToOutgoingContext(r.Context(), "x-example-id", strconv.FormatUint(id.UserID, 10), "x-example-username", id.Username)
		rsp := new(api.Response)
		if err := conn.Invoke(ctx, "/bench.Greeter/Hello", &api.Request{Method: r.Method, Body: string(body)}, rsp); err != nil {
			http.Error(w, `{"code":503,"message":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(rsp.StatusCode))
		w.Write([]byte(rsp.Body))
	})
}
