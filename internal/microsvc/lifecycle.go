package microsvc

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/micro/go-micro/v2"

	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
)

// Service is a go-micro service that stops gracefully.
type Service struct {
	micro.Service
	config   Config
	registry *healthyOnly
	stop     context.CancelFunc
}

// New builds a go-micro service named name; idempotent names the endpoints it calls that may
// be retried after a failure mid-call (see RetryPolicy). extra options (wrappers, handlers)
// follow the shared ones, so a service can override any of them.
func New(name string, c Config, idempotent []string, extra ...micro.Option) (*Service, error) {
	if c.Server.ShutdownDelay < 0 || c.Server.DrainTimeout <= 0 {
		return nil, fmt.Errorf("server.shutdown_delay (%s) must not be negative and server.drain_timeout (%s) must be positive (see StopSettings)",
			c.Server.ShutdownDelay, c.Server.DrainTimeout)
	}
	opts, reg, err := c.options(idempotent)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	// After the shared options: micro.Server there replaces the server the name is set on.
	opts = append(opts, micro.Name(name), micro.Context(ctx), micro.HandleSignal(false),
		micro.WrapHandler(metrics.HandlerWrapper(name)))
	return &Service{Service: micro.NewService(append(opts, extra...)...), config: c, registry: reg, stop: stop}, nil
}

// Run serves until SIGTERM or SIGINT, then stops in the order that loses no call (see
// Config.RunStopping), leaving Consul by deregistering the service.
func (s *Service) Run() error {
	leave := func() {
		s.registry.leaving.Store(true)
		if server, ok := s.Server().(interface{ Deregister() error }); ok {
			if err := server.Deregister(); err != nil {
				log.Printf("leave the registry: %v", err)
			}
		}
	}
	// s.stop ends go-micro's Run: it waits for in-flight handlers, then stops the gRPC server.
	return s.config.RunStopping(s.Service.Run, leave, s.stop)
}

// RunStopping runs serve until SIGTERM or SIGINT, then stops in the order that loses no call:
// leave the registry (callers' watches, and load balancers, drop this instance), keep serving
// for server.shutdown_delay while they do, then stop, and wait up to server.drain_timeout for
// serve to return with the calls in flight done.
func (c Config) RunStopping(serve func() error, leave, stop func()) error {
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
	time.Sleep(c.Server.ShutdownDelay)
	stop()
	select {
	case err := <-ran:
		log.Printf("stopped in %s", time.Since(began).Round(time.Millisecond))
		return err
	case <-time.After(c.Server.DrainTimeout):
		return fmt.Errorf("calls still in flight %s after the stop began; exiting anyway", c.Server.DrainTimeout)
	}
}
