// Package apiserver is the gateway's HTTP server: the typed RPC handler (each route of the
// proto files becomes a call with its protobuf request, see Handler), served by an http.Server
// of our own with timeouts and a connection cap, which micro's `api` command does not set (a
// slowloris client could hold its connections forever).
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Config is the HTTP server's limits; they apply at start.
type Config struct {
	// Address is the listen address.
	Address string `mapstructure:"address" default:":8080" usage:"HTTP listen address"`
	// ReadHeaderTimeout bounds the time to send the request line and headers.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout" default:"5s" usage:"longest time a client may take to send the request headers"`
	// ReadTimeout bounds the time to send the whole request, body included.
	ReadTimeout time.Duration `mapstructure:"read_timeout" default:"10s" usage:"longest time a client may take to send a whole request"`
	// WriteTimeout bounds the time from the end of the headers to the end of the answer; it
	// must be longer than the longest call behind it.
	WriteTimeout time.Duration `mapstructure:"write_timeout" default:"15s" usage:"longest time from the request headers to the end of the answer (above breaker.timeout)"`
	// IdleTimeout closes a keep-alive connection that carries no request for this long. nginx
	// keeps idle upstream connections for 60 s by default; closing ours later means nginx
	// never sends on a connection the gateway is closing.
	IdleTimeout time.Duration `mapstructure:"idle_timeout" default:"75s" usage:"idle keep-alive connections are closed after this"`
	// MaxHeaderBytes bounds the request line and headers. The edge answers requests over it
	// with a JSON 431; the server itself cuts off at twice as much (with a plain-text 431),
	// so that no client makes it hold more.
	MaxHeaderBytes int `mapstructure:"max_header_bytes" default:"32768" usage:"largest request line and headers; larger gets 431"`
	// MaxConnections caps the connections open at once; more wait in the kernel's backlog.
	MaxConnections int `mapstructure:"max_connections" default:"4096" usage:"connections open at once; more wait to be accepted"`
}

// Validate reports limits that cannot work, given the longest call behind the server.
func (c Config) Validate(longestCall time.Duration) error {
	switch {
	case c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.IdleTimeout <= 0:
		return fmt.Errorf("http.read_header_timeout (%s), http.read_timeout (%s) and http.idle_timeout (%s) must be positive",
			c.ReadHeaderTimeout, c.ReadTimeout, c.IdleTimeout)
	case c.WriteTimeout <= longestCall:
		return fmt.Errorf("http.write_timeout (%s) must be longer than the longest call (%s), or slow answers are cut off", c.WriteTimeout, longestCall)
	case c.MaxHeaderBytes < 4<<10:
		return fmt.Errorf("http.max_header_bytes %d: want at least 4096", c.MaxHeaderBytes)
	case c.MaxConnections < 1:
		return fmt.Errorf("http.max_connections %d: want at least 1", c.MaxConnections)
	}
	return nil
}

// Server serves a handler within Config's limits.
type Server struct {
	http     *http.Server
	listener net.Listener
	stopped  chan error
}

// Listen binds c.Address; Serve then serves h on it.
func Listen(c Config, h http.Handler) (*Server, error) {
	l, err := net.Listen("tcp", c.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", c.Address, err)
	}
	return &Server{
		http: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: c.ReadHeaderTimeout,
			ReadTimeout:       c.ReadTimeout,
			WriteTimeout:      c.WriteTimeout,
			IdleTimeout:       c.IdleTimeout,
			MaxHeaderBytes:    2 * c.MaxHeaderBytes,
		},
		listener: netutil.LimitListener(l, c.MaxConnections),
		stopped:  make(chan error, 1),
	}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Serve serves until Stop, and returns once the requests in flight at Stop are answered.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-s.stopped
}

// Stop stops accepting connections and closes idle ones; Serve returns when the requests in
// flight are answered, or after drain.
func (s *Server) Stop(drain time.Duration) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		s.stopped <- s.http.Shutdown(ctx)
	}()
}
