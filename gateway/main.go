// Command gateway runs the micro api gateway: HTTP on :8080, routed by path to go.micro.api.*
// services through Consul (`/greeter/hello` → go.micro.api.greeter Greeter.Hello), behind the
// edge rules, the abuse limits and JWT authentication, on an HTTP server with timeouts. Its
// settings come from the config server.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gorilla/handlers"
	"github.com/micro/go-micro/v2"

	"github.com/gomicro-stack/gomicro-stack/gateway/apiserver"
	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/gateway/jwtauth"
	"github.com/gomicro-stack/gomicro-stack/gateway/limits"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	"github.com/gomicro-stack/gomicro-stack/internal/registration"
)

// Config is the gateway's configuration.
type Config struct {
	microsvc.Config `mapstructure:",squash"`
	HTTP            struct {
		apiserver.Config `mapstructure:",squash"`
		Advertise        string `mapstructure:"advertise"`
	} `mapstructure:"http"`
	Gateway struct {
		Routes       []string `mapstructure:"routes"`
		OpenPaths    []string `mapstructure:"open_paths"`
		MaxBodyBytes int64    `mapstructure:"max_body_bytes"`
		CORSOrigins  []string `mapstructure:"cors_origins"`
		AccessLog    bool     `mapstructure:"access_log"`
	} `mapstructure:"gateway"`
	Limits       limits.Config        `mapstructure:"limits"`
	JWT          auth.Config          `mapstructure:"jwt"`
	InternalAuth auth.AssertionConfig `mapstructure:"internal_auth"`
	Breaker      breaker.Config       `mapstructure:"breaker"`
	Metrics      metrics.Config       `mapstructure:"metrics"`
}

func settings() []config.Setting {
	own := append(apiserver.Settings(), []config.Setting{
		{Key: "http.advertise", Default: "", Usage: "host:port registered in Consul as service gateway, for load balancers (empty: the listen address, or this host's private IP)"},
		{Key: "gateway.routes", Default: []string{"/user/register", "/user/login", "/greeter/hello"}, Usage: "public paths; all others answer 404"},
		{Key: "gateway.open_paths", Default: []string{"/user/register", "/user/login"}, Usage: "paths that need no token"},
		{Key: "gateway.max_body_bytes", Default: 1 << 20, Usage: "largest request body; larger gets 413"},
		{Key: "gateway.cors_origins", Default: []string{}, Usage: "browser origins allowed by CORS (* = any, without credentials)"},
		{Key: "gateway.access_log", Default: false, Usage: "write an access log line per request to stdout (costs throughput)"},
	}...)
	// The gateway's calls carry the services' own calls and their breakers' timeouts (1 s), so
	// its breakers wait longer. They apply at start only.
	own = append(append(append(append(own, limits.Settings()...), auth.Settings(false)...), auth.AssertionSettings()...), breaker.Settings(5*time.Second, false)...)
	own = append(own, metrics.Settings("")...)
	return append(own, append(microsvc.ClientSettings(), microsvc.StopSettings()...)...)
}

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cfg Config
	source, err := config.Load(ctx, config.App{Name: "gateway", Settings: settings(), Remote: true, Usage: os.Stderr}, args, &cfg)
	if err != nil {
		return err
	}
	if err := cfg.HTTP.Validate(cfg.Breaker.Timeout); err != nil {
		return err
	}
	limiter, err := limits.New(cfg.Limits)
	if err != nil {
		return err
	}
	// Only the limits follow the config server; other changes need a restart.
	go source.Watch(ctx, func(s *config.Source) error {
		var next Config
		if err := s.Decode(&next); err != nil {
			return err
		}
		return limiter.Update(next.Limits)
	})
	if err := metrics.Serve(ctx, cfg.Metrics); err != nil {
		return err
	}
	keys, err := auth.NewKeys(cfg.JWT)
	if err != nil {
		return err
	}
	signer, err := auth.NewSigner(cfg.InternalAuth)
	if err != nil {
		return err
	}
	microsvc.LogTo(os.Stderr)
	// Hello and Login may be tried again on another node after a failure mid-call; Register
	// only when the call cannot have run.
	serviceOptions := cfg.ClientOptions("Greeter.Hello", "User.Login")
	// Every call to a service runs as a hystrix command {service}.{endpoint}, without fallbacks:
	// an open breaker answers 503 at once instead of queueing clients on a dead service.
	if err := breaker.SetDefaults(cfg.Breaker); err != nil {
		return err
	}
	// The gateway is a client only: this service is never run, so it serves and registers no
	// RPC endpoint of its own.
	service := micro.NewService(append(serviceOptions, micro.Name(apiserver.Namespace), micro.WrapClient(breaker.NewClientWrapper(nil)))...)
	api, closeRouter := apiserver.NewHandler(service.Client(), service.Options().Registry)
	defer closeRouter()
	// Outermost first: the edge (routes, body, well-formed text, error envelope) sees every
	// request, then the limits, then authentication.
	handler := jwtauth.Middleware(keys, signer, apiserver.Audience, cfg.Gateway.OpenPaths)(api)
	handler = limits.Middleware(limiter)(handler)
	handler = edge.Middleware(edge.Config{
		Routes:         cfg.Gateway.Routes,
		MaxBodyBytes:   cfg.Gateway.MaxBodyBytes,
		MaxHeaderBytes: cfg.HTTP.MaxHeaderBytes,
		CORSOrigins:    cfg.Gateway.CORSOrigins,
	})(handler)
	if cfg.Gateway.AccessLog {
		handler = handlers.CombinedLoggingHandler(os.Stdout, handler)
	}
	server, err := apiserver.Listen(cfg.HTTP.Config, handler)
	if err != nil {
		return err
	}
	log.Printf("gateway listening on %s", server.Addr())
	// Load balancers (deploy/nginx) find gateways in Consul as "gateway", by HTTP address.
	advertised, err := registration.Advertise(cfg.HTTP.Advertise, cfg.HTTP.Address)
	if err != nil {
		return err
	}
	// The listener is bound before registering, so the gateway starts out passing.
	announced, leave := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() {
		left <- registration.Keep(announced, registration.Config{
			ConsulAddress: cfg.Registry.Address, ConsulToken: cfg.Registry.Token, Name: "gateway", Address: advertised,
			HealthPath: "/health", CheckInterval: 2 * time.Second, Healthy: func() bool { return true },
		}, 5*time.Second)
	}()
	// On SIGTERM the gateway leaves Consul first, so that load balancers stop sending here,
	// then stops accepting and answers what is in flight.
	leaveConsul := func() {
		leave()
		if err := <-left; err != nil {
			log.Printf("leave Consul: %v", err)
		}
	}
	return cfg.RunStopping(server.Serve, leaveConsul, func() { server.Stop(cfg.Server.DrainTimeout) })
}
