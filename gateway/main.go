// Command gateway runs the micro api gateway: HTTP on :8080, routed by path to go.micro.api.*
// services through Consul (`/greeter/hello` → go.micro.api.greeter Greeter.Hello), behind the
// edge rules and the JWT auth plugin. Its settings come from the config server.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/micro/cli/v2"
	"github.com/micro/go-micro/v2"
	"github.com/micro/micro/v2/client/api"
	"github.com/micro/micro/v2/plugin"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/gateway/jwtauth"
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
		Address   string `mapstructure:"address"`
		Advertise string `mapstructure:"advertise"`
	} `mapstructure:"http"`
	Gateway struct {
		Routes       []string `mapstructure:"routes"`
		OpenPaths    []string `mapstructure:"open_paths"`
		MaxBodyBytes int64    `mapstructure:"max_body_bytes"`
		CORSOrigins  []string `mapstructure:"cors_origins"`
		AccessLog    bool     `mapstructure:"access_log"`
	} `mapstructure:"gateway"`
	JWT     auth.Config    `mapstructure:"jwt"`
	Breaker breaker.Config `mapstructure:"breaker"`
	Metrics metrics.Config `mapstructure:"metrics"`
}

func settings() []config.Setting {
	own := []config.Setting{
		{Key: "http.address", Default: ":8080", Usage: "HTTP listen address"},
		{Key: "http.advertise", Default: "", Usage: "host:port registered in Consul as service gateway, for load balancers (empty: the listen address, or this host's private IP)"},
		{Key: "gateway.routes", Default: []string{"/user/register", "/user/login", "/greeter/hello"}, Usage: "public paths; all others answer 404"},
		{Key: "gateway.open_paths", Default: []string{"/user/register", "/user/login"}, Usage: "paths that need no token"},
		{Key: "gateway.max_body_bytes", Default: 1 << 20, Usage: "largest request body; larger gets 413"},
		{Key: "gateway.cors_origins", Default: []string{}, Usage: "browser origins allowed by CORS (* = any, without credentials)"},
		{Key: "gateway.access_log", Default: false, Usage: "write an access log line per request to stdout (costs throughput)"},
	}
	// The gateway's calls carry the services' own calls and their breakers' timeouts (1 s), so
	// its breakers wait longer. They apply at start only.
	own = append(append(append(own, auth.Settings(false)...), breaker.Settings(5*time.Second, false)...), metrics.Settings("")...)
	return append(own, append(microsvc.Settings(), microsvc.StopSettings()...)...)
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
	// Nothing here is refreshable; watching reports changes that need a restart.
	go source.Watch(ctx, func(*config.Source) error { return nil })
	if err := metrics.Serve(ctx, cfg.Metrics); err != nil {
		return err
	}
	keys, err := auth.NewKeys(cfg.JWT)
	if err != nil {
		return err
	}
	// Hello and Login may be tried again on another node after a failure mid-call; Register
	// only when the call cannot have run.
	serviceOptions, err := cfg.Options("Greeter.Hello", "User.Login")
	if err != nil {
		return err
	}
	// Every call to a service runs as a hystrix command {service}.{endpoint}, without fallbacks:
	// an open breaker answers 503 at once instead of queueing clients on a dead service.
	if err := breaker.SetDefaults(cfg.Breaker); err != nil {
		return err
	}
	serviceOptions = append(serviceOptions, micro.WrapClient(breaker.NewClientWrapper(nil)))
	// Plugins registered first wrap outermost: the edge rules see every request before auth.
	edgePlugin := plugin.NewPlugin(plugin.WithName("edge"), plugin.WithHandler(edge.Middleware(edge.Config{
		Routes:       cfg.Gateway.Routes,
		MaxBodyBytes: cfg.Gateway.MaxBodyBytes,
		CORSOrigins:  cfg.Gateway.CORSOrigins,
	})))
	for _, p := range []plugin.Plugin{edgePlugin, jwtauth.NewPlugin(keys, cfg.Gateway.OpenPaths)} {
		if err := api.Register(p); err != nil {
			return fmt.Errorf("register plugin %s: %w", p, err)
		}
	}
	// micro's HTTP server writes a log line per request to os.Stdout, with no switch; under
	// load that line costs more than the gateway's own work. Without gateway.access_log,
	// stdout goes nowhere; our own logs and go-micro's (micro's fatal errors too) go to stderr.
	microsvc.LogTo(os.Stderr)
	if !cfg.Gateway.AccessLog {
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		os.Stdout = devNull
	}
	// Load balancers (deploy/nginx) find gateways in Consul as "gateway", by HTTP address.
	advertised, err := registration.Advertise(cfg.HTTP.Advertise, cfg.HTTP.Address)
	if err != nil {
		return err
	}
	running, stopRunning := context.WithCancel(ctx)
	serviceOptions = append(serviceOptions, micro.HandleSignal(false), micro.Context(running))
	announced, leave := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() {
		left <- registration.Keep(announced, registration.Config{
			ConsulAddress: cfg.Registry.Address, Name: "gateway", Address: advertised,
			HealthPath: "/health", CheckInterval: 2 * time.Second, Healthy: func() bool { return false },
		}, 5*time.Second)
	}()
	// micro's api command reads its settings from a cli context; we hand it ours as flags.
	// CORS is ours (edge), because micro's answers "*" together with credentials.
	app := cli.NewApp()
	app.Name = "gateway"
	app.Commands = api.Commands(serviceOptions...)
	serve := func() error {
		return app.Run([]string{"gateway", "api",
			"--address", cfg.HTTP.Address,
			"--handler", "api",
			"--resolver", "micro",
			"--namespace", "go.micro",
			"--type", "api",
			"--enable_cors=false",
		})
	}
	// On SIGTERM the gateway leaves Consul first, so that load balancers stop sending here.
	leaveConsul := func() {
		leave()
		if err := <-left; err != nil {
			log.Printf("leave Consul: %v", err)
		}
	}
	return cfg.RunStopping(serve, leaveConsul, stopRunning)
}
