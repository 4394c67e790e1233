// Command greeter runs the greeter service (go.micro.api.greeter): it greets authenticated
// callers with their profile, fetched from the user service through a hystrix-wrapped client.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/micro/go-micro/v2"
	"github.com/micro/go-plugins/wrapper/breaker/hystrix/v2"

	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/greeting"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/handler"
	"github.com/gomicro-stack/gomicro-stack/service/greeter/users"
)

// Config is the greeter's startup configuration.
type Config struct {
	microsvc.Config `mapstructure:",squash"`
	Greetings       struct {
		String string `mapstructure:"string"`
	} `mapstructure:"greetings"`
}

func settings() []config.Setting {
	own := []config.Setting{
		{Key: "greetings.string", Default: "Hi, here are greetings from gomicro-stack", Usage: "setting_message in every hello"},
	}
	return append(own, microsvc.Settings()...)
}

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var cfg Config
	if _, err := config.Load("greeter", args, settings(), &cfg, os.Stderr); err != nil {
		return err
	}
	// Every outgoing call runs as a hystrix command named {service}.{endpoint}, e.g.
	// go.micro.api.user.User.GetUserInfo.
	service, err := microsvc.New(handler.ServiceName, cfg.Config, micro.WrapClient(hystrix.NewClientWrapper()))
	if err != nil {
		return err
	}
	message := cfg.Greetings.String
	greeter := greeting.NewGreeter(users.NewDirectory(service.Client()), func() string { return message })
	if err := greeterpb.RegisterGreeterHandler(service.Server(), handler.New(greeter)); err != nil {
		return fmt.Errorf("register handler: %w", err)
	}
	return service.Run()
}
