package rpcerror_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/client"
	grpcclient "github.com/micro/go-micro/v2/client/grpc"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	"github.com/gomicro-stack/gomicro-stack/internal/rpcclient"
	. "github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

// peer is a TCP server that speaks just enough HTTP/2 to take a call's request, then does
// what afterRequest says with the connection.
func peer(t *testing.T, afterRequest func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				preface := make([]byte, len(http2.ClientPreface))
				if _, err := conn.Read(preface); err != nil {
					conn.Close()
					return
				}
				framer := http2.NewFramer(conn, conn)
				framer.WriteSettings()
				for {
					f, err := framer.ReadFrame()
					if err != nil {
						conn.Close()
						return
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if !f.IsAck() {
							framer.WriteSettingsAck()
						}
					case *http2.DataFrame:
						afterRequest(conn)
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// withDialOptions gives go-micro's own gRPC client the options that classify failures
// (DialOptions), as a client.Option: go-micro keeps one list of dial options.
func withDialOptions() client.Option {
	opts := DialOptions()
	return func(o *client.Options) {
		grpcclient.DialOptions(opts...)(&o.CallOptions)
	}
}

func TestClassifyFailures(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refusing := closed.Addr().String()
	closed.Close()

	grpcServer := grpc.NewServer() // no service: it answers Unimplemented by itself
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go grpcServer.Serve(l)
	t.Cleanup(grpcServer.Stop)

	lost := peer(t, func(c net.Conn) { c.Close() })
	silent := peer(t, func(c net.Conn) { time.Sleep(5 * time.Second); c.Close() })

	// go-micro's own gRPC client and ours (internal/rpcclient) must classify alike.
	clients := map[string]client.Client{
		"go-micro":  grpcclient.NewClient(withDialOptions(), client.Retries(0)),
		"rpcclient": rpcclient.New(DialOptions(), client.Retries(0)),
	}
	for _, tc := range []struct {
		name    string
		address string
		request *userpb.LoginRequest
		timeout time.Duration
		want    Class
		code    int32
	}{
		{"connection refused", refusing, &userpb.LoginRequest{Username: "a"}, time.Second, Unreachable, 503},
		{"reset after the request went out", lost, &userpb.LoginRequest{Username: "a"}, time.Second, Lost, 503},
		{"no answer in time", silent, &userpb.LoginRequest{Username: "a"}, 300 * time.Millisecond, TimedOut, 408},
		{"invalid UTF-8: cannot be sent", l.Addr().String(), &userpb.LoginRequest{Username: "\xff"}, time.Second, NotSent, 400},
		{"answered by the gRPC server", l.Addr().String(), &userpb.LoginRequest{Username: "a"}, time.Second, Answered, 501},
	} {
		for name, rpc := range clients {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				req := rpc.NewRequest("go.micro.api.user", "User.Login", tc.request)
				err := rpc.Call(context.Background(), req, &userpb.TokenReply{}, client.WithAddress(tc.address), client.WithRequestTimeout(tc.timeout))
				if err == nil {
					t.Fatal("no error")
				}
				class, e := ClassOf(err)
				if class != tc.want || e.Code != tc.code {
					t.Fatalf("%v: class %d code %d, want %d %d", err, class, e.Code, tc.want, tc.code)
				}
			})
		}
	}
}
