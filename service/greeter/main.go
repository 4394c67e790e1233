// Command greeter runs the greeter service (go.micro.api.greeter): it greets authenticated
// callers with their profile, fetched from the user service through a hystrix-wrapped client.
// Its settings come from the config server; the greeting text and the breaker settings follow
// changes there without a restart.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/micro/go-micro/v2"
	"github.com/micro/go-plugins/wrapper/breaker/hystrix/v2"

	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/handler"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/users"
)

// Config is the greeter's configuration.
type Config struct {
	microsvc.Config `mapstructure:",squash"`
	Greetings       struct {
		String string `mapstructure:"string"`
	} `mapstructure:"greetings"`
	Breaker breaker.Config `mapstructure:"breaker"`
}

func settings() []config.Setting {
	own := []config.Setting{
		{Key: "greetings.string", Default: "Hi, here are greetings from gomicro-stack", Usage: "setting_message in every hello", Refreshable: true},
	}
	return append(append(own, breaker.Settings()...), microsvc.Settings()...)
}

// userCommands are the hystrix commands of the calls to the user service: the go-plugins
// wrapper names each {service}.{endpoint}.
var userCommands = []string{users.ServiceName + ".User.GetUserInfo"}

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cfg Config
	source, err := config.Load(ctx, config.App{Name: "greeter", Settings: settings(), Remote: true, Usage: os.Stderr}, args, &cfg)
	if err != nil {
		return err
	}
	if err := breaker.Apply(userCommands, cfg.Breaker, breaker.Config{}); err != nil {
		return err
	}
	service, err := microsvc.New(handler.ServiceName, cfg.Config, micro.WrapClient(hystrix.NewClientWrapper()))
	if err != nil {
		return err
	}
	var message atomic.Pointer[string]
	message.Store(&cfg.Greetings.String)
	greeter := greeting.NewGreeter(users.NewDirectory(service.Client()), func() string { return *message.Load() })
	if err := greeterpb.RegisterGreeterHandler(service.Server(), handler.New(greeter)); err != nil {
		return fmt.Errorf("register handler: %w", err)
	}
	go source.Watch(ctx, func(s *config.Source) error {
		var next Config
		if err := s.Decode(&next); err != nil {
			return err
		}
		if err := breaker.Apply(userCommands, next.Breaker, cfg.Breaker); err != nil {
			return err
		}
		cfg.Breaker = next.Breaker
		message.Store(&next.Greetings.String)
		return nil
	})
	return service.Run()
}
