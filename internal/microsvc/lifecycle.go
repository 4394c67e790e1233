package microsvc

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/micro/go-micro/v2/client"
	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-micro/v2/server"
	grpcserver "github.com/micro/go-micro/v2/server/grpc"
	"google.golang.org/grpc"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	reflectionpb "github.com/gomicro-stack/gomicro-stack/proto/reflection"
)

// Service is a go-micro gRPC server registered in Consul, with the client it calls others
// through; it stops gracefully. It is built from go-micro's server, client and registry
// packages, not with micro.NewService: that package imports go-micro's command line, which
// links every plugin it can select (etcd, a git runtime, a JWT library with a known
// vulnerability).
type Service struct {
	server   server.Server
	client   client.Client
	config   Config
	registry *healthyOnly
}

// Option adds wrappers to a Service.
type Option func(*options)

type options struct {
	handlerWrappers []server.HandlerWrapper
	clientWrappers  []client.Wrapper
	api             []protoreflect.FileDescriptor
}

// WrapHandler wraps every call the service serves (inside the tracing and metrics wrappers, in the order
// given: the first is outermost).
func WrapHandler(w server.HandlerWrapper) Option {
	return func(o *options) { o.handlerWrappers = append(o.handlerWrappers, w) }
}

// WrapClient wraps every call the service makes (around the retries: the first is outermost).
func WrapClient(w client.Wrapper) Option {
	return func(o *options) { o.clientWrappers = append(o.clientWrappers, w) }
}

// New builds the service named name, listening on c.Server.Address and registered in Consul
// with c's TTL and interval; idempotent names the endpoints it calls that may be retried after
// a failure mid-call (see RetryPolicy).
func New(name string, c Config, idempotent []string, opts ...Option) (*Service, error) {
	if c.Server.ShutdownDelay < 0 || c.Server.DrainTimeout <= 0 {
		return nil, fmt.Errorf("server.shutdown_delay (%s) must not be negative and server.drain_timeout (%s) must be positive",
			c.Server.ShutdownDelay, c.Server.DrainTimeout)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	reg := c.Registry.NewRegistry().(*healthyOnly)
	serverOptions := []server.Option{
		server.Name(name), server.Address(c.Server.Address), server.Registry(reg),
		server.RegisterTTL(c.Registry.TTL), server.RegisterInterval(c.Registry.Interval),
		// Stop waits for the calls in flight.
		server.Wait(nil),
		grpcserver.Options(serverKeepalive, grpc.NumStreamWorkers(streamWorkers)),
		// Outermost, so that the call's span holds what every other wrapper did.
		server.WrapHandler(tracing.HandlerWrapper),
		server.WrapHandler(metrics.HandlerWrapper(name)),
	}
	for _, w := range o.handlerWrappers {
		serverOptions = append(serverOptions, server.WrapHandler(w))
	}
	// Innermost: no handler runs on a request that breaks its proto's rules, whoever sent it.
	serverOptions = append(serverOptions, server.WrapHandler(ValidateRequests(name)))
	var described [][]byte
	if len(o.api) > 0 {
		files, err := APIFiles(o.api)
		if err != nil {
			return nil, err
		}
		described = files
		serverOptions = append(serverOptions, server.Version(apiVersion(files)))
	}
	srv := grpcserver.NewServer(serverOptions...)
	if described != nil {
		if err := reflectionpb.RegisterReflectionHandler(srv, reflection{files: described}); err != nil {
			return nil, fmt.Errorf("register the reflection handler: %w", err)
		}
	}
	return &Service{
		server:   srv,
		client:   NewClient(reg, idempotent, o.clientWrappers...),
		config:   c,
		registry: reg,
	}, nil
}

// Server is where the service's handlers are registered.
func (s *Service) Server() server.Server { return s.server }

// Client calls other services.
func (s *Service) Client() client.Client { return s.client }

// Registry is the Consul registry the service is in.
func (s *Service) Registry() registry.Registry { return s.registry }

// Run serves until SIGTERM or SIGINT, then stops in the order that loses no call (see
// Stop.RunStopping), leaving Consul by deregistering the service.
func (s *Service) Run() error {
	stopped := make(chan struct{})
	serve := func() error {
		if err := s.server.Start(); err != nil {
			return fmt.Errorf("start %s: %w", s.server.Options().Name, err)
		}
		<-stopped
		// Stop deregisters (again: leaving is idempotent), waits for the calls in flight and
		// closes the listener.
		return s.server.Stop()
	}
	leave := func() {
		s.registry.leaving.Store(true)
		if server, ok := s.server.(interface{ Deregister() error }); ok {
			if err := server.Deregister(); err != nil {
				log.Printf("leave the registry: %v", err)
			}
		}
	}
	return s.config.Server.RunStopping(serve, leave, func() { close(stopped) })
}

// RunStopping runs serve until SIGTERM or SIGINT, then stops in the order that loses no call:
// leave the registry (callers' watches, and load balancers, drop this instance), keep serving
// for server.shutdown_delay while they do, then stop, and wait up to server.drain_timeout for
// serve to return with the calls in flight done.
func (c Stop) RunStopping(serve func() error, leave, stop func()) error {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	ran := make(chan error, 1)
	go func() { ran <- serve() }()
	select {
	case err := <-ran:
		return err
	case <-signals:
	}
	began := time.Now()
	leave()
	time.Sleep(c.ShutdownDelay)
	stop()
	select {
	case err := <-ran:
		log.Printf("stopped in %s", time.Since(began).Round(time.Millisecond))
		return err
	case <-time.After(c.DrainTimeout):
		return fmt.Errorf("calls still in flight %s after the stop began; exiting anyway", c.DrainTimeout)
	}
}
