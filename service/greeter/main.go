// Command greeter runs the greeter service (go.micro.api.greeter): it greets authenticated
// callers with their profile, fetched from the user service through a circuit breaker that
// falls back to the caller's token, and with their login count, learnt from user events. Its
// breakers are on a live dashboard (:8181). Settings come from the config server; the greeting
// text and the breaker settings follow changes there without a restart.
package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/boot"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/events"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/activity"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/handler"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/users"
)

// Config is the greeter's configuration: each field declares its setting (config.Declare).
// The greeting text and the breaker settings follow the config server.
type Config struct {
	Greetings struct {
		String string `mapstructure:"string" default:"Hi, here are greetings from gomicro-stack" refresh:"true" usage:"setting_message in every hello"`
	} `mapstructure:"greetings"`
	Breaker struct {
		StreamAddress  string `mapstructure:"stream_address" default:"127.0.0.1:8181" usage:"address of the breaker dashboard, /hystrix.stream and /metrics (empty: off; containers set 0.0.0.0:8181)"`
		breaker.Config `mapstructure:",squash" refresh:"true"`
	} `mapstructure:"breaker"`
	// Metrics are served on the breaker's stream address.
	Metrics struct {
		PProf bool `mapstructure:"pprof" usage:"serve Go's pprof profiles at /debug/pprof/ on the breaker.stream_address (keep it private)"`
	} `mapstructure:"metrics"`
	InternalAuth    auth.VerifierConfig `mapstructure:"internal_auth"`
	Broker          events.Config       `mapstructure:"broker"`
	microsvc.Config `mapstructure:",squash"`
}

var defaults = map[string]any{"internal_auth.audiences": []string{handler.ServiceName}}

// userCommands are the hystrix commands of the calls to the user service.
var userCommands = []string{users.GetUserInfoCommand}

func main() { boot.Main("greeter", run) }

func run(args []string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	binary, err := boot.Start[Config](ctx, config.App{Name: "greeter", Defaults: defaults, Remote: true}, args, tracing.Internal, nil)
	if err != nil {
		return err
	}
	defer binary.Stop()
	cfg := binary.Config
	if err := breaker.SetDefaults(cfg.Breaker.Config); err != nil {
		return err
	}
	if err := breaker.Apply(userCommands, cfg.Breaker.Config); err != nil {
		return err
	}
	fallbacks := breaker.Fallbacks{users.GetUserInfoCommand: users.ProfileFromToken}
	verifier, err := auth.NewVerifier(cfg.InternalAuth)
	if err != nil {
		return err
	}
	service, err := microsvc.New(handler.ServiceName, cfg.Config, []string{"User.GetUserInfo"},
		microsvc.API(greeterpb.File_greeter_greeter_proto), microsvc.WrapClient(breaker.NewClientWrapper(fallbacks)),
		microsvc.VerifyCaller(handler.ServiceName, verifier))
	if err != nil {
		return err
	}
	if err := breaker.ServeStream(ctx, cfg.Breaker.StreamAddress, cfg.Metrics.PProf); err != nil {
		return err
	}
	brk, err := events.NewBroker(cfg.Broker, service.Registry(), "greeter")
	if err != nil {
		return err
	}
	bus := events.Start(ctx, brk)
	defer bus.Close()
	logins := activity.NewCounter()
	bus.Subscribe(ctx, events.UserRegistered, logins.Registered)
	bus.Subscribe(ctx, events.UserLoggedIn, logins.LoggedIn)

	var message atomic.Pointer[string]
	message.Store(&cfg.Greetings.String)
	greeter := greeting.NewGreeter(users.NewDirectory(service.Client()), logins, func() string { return *message.Load() })
	if err := greeterpb.RegisterGreeterHandler(service.Server(), handler.New(greeter)); err != nil {
		return fmt.Errorf("register handler: %w", err)
	}
	binary.Follow(ctx, func(next Config) error {
		if err := breaker.Apply(userCommands, next.Breaker.Config); err != nil {
			return err
		}
		message.Store(&next.Greetings.String)
		return nil
	})
	return service.Run()
}
