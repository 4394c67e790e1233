// Command echo is a service the gateway was not built with, for the end-to-end tests: started
// beside a running gateway, its routes must be served through the registry alone. It answers
// Echo.Say on behalf of the caller the gateway's signed identity names.
package main

import (
	"context"
	"os"
	"unicode/utf8"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/boot"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
	echopb "github.com/gomicro-stack/gomicro-stack/test/e2e/echo/echopb"
)

// serviceName is the echo service's registry name.
const serviceName = names.Namespace + ".echo"

// Config is the echo service's configuration.
type Config struct {
	InternalAuth    auth.VerifierConfig `mapstructure:"internal_auth"`
	microsvc.Config `mapstructure:",squash"`
}

func main() { boot.Main("echo", run) }

func run(args []string) error {
	var cfg Config
	app := config.App{Name: "echo", Defaults: map[string]any{"internal_auth.audiences": []string{serviceName}}, Usage: os.Stderr}
	if _, err := config.Load(context.Background(), app, args, &cfg); err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(cfg.InternalAuth)
	if err != nil {
		return err
	}
	service, err := microsvc.New(serviceName, cfg.Config, nil, microsvc.API(echopb.File_test_e2e_echo_echopb_echo_proto),
		microsvc.VerifyCaller(serviceName, verifier))
	if err != nil {
		return err
	}
	if err := echopb.RegisterEchoHandler(service.Server(), echo{}); err != nil {
		return err
	}
	return service.Run()
}

type echo struct{}

func (echo) Say(ctx context.Context, in *echopb.SayRequest, out *echopb.SayReply) error {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return rpcerror.New(serviceName, apipb.Reason_UNAUTHENTICATED, "caller identity missing")
	}
	out.Text, out.Caller, out.Length = in.GetText(), caller.Username, int64(utf8.RuneCountInString(in.GetText()))
	return nil
}

func (echo) Steal(context.Context, *echopb.SayRequest, *echopb.SayReply) error {
	return rpcerror.New(serviceName, apipb.Reason_INTERNAL, "this route must never be served")
}
