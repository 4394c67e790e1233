// Command user runs the user service (go.micro.api.user): registration, login and profiles,
// stored through gorm in SQLite or PostgreSQL; registrations and logins are published as events.
// Its settings come from the config server.
package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/boot"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/events"
	"github.com/gomicro-stack/gomicro-stack/internal/lockout"
	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
	"github.com/gomicro-stack/gomicro-stack/service/user/handler"
	"github.com/gomicro-stack/gomicro-stack/service/user/store"
)

// Config is the user service's configuration: each field declares its setting (config.Declare).
type Config struct {
	Database struct {
		DSN string `mapstructure:"dsn" default:"var/user.db" usage:"SQLite file path, or a postgres:// URL for PostgreSQL"`
	} `mapstructure:"database"`
	Password struct {
		// 10 is bcrypt's default and OWASP's floor; 12 costs 4× as much CPU per login, which
		// on the 2-core reference machine caps logins near 10 a second. Raise it on bigger hosts.
		BcryptCost int `mapstructure:"bcrypt_cost" default:"10" usage:"bcrypt cost of new password hashes (4 to 31; each step doubles the work)"`
		Workers    int `mapstructure:"workers" usage:"passwords hashed at once; more wait, or get 503 at once if they could not finish in time (0: one per CPU)"`
	} `mapstructure:"password"`
	// Lockout locks an account after wrong passwords, as the gateway's limits do, for callers
	// inside the network that reach the service without a gateway.
	Lockout struct {
		lockout.Config `mapstructure:",squash"`
		MaxTracked     int `mapstructure:"max_tracked" default:"100000" usage:"accounts whose wrong passwords are tracked (memory bound)"`
	} `mapstructure:"lockout"`
	JWT             auth.Config         `mapstructure:"jwt"`
	InternalAuth    auth.VerifierConfig `mapstructure:"internal_auth"`
	Broker          events.Config       `mapstructure:"broker"`
	Metrics         metrics.Config      `mapstructure:"metrics"`
	microsvc.Config `mapstructure:",squash"`
}

// defaults are the defaults the user service computes: the greeter forwards the identity the
// gateway signed for it.
var defaults = map[string]any{"internal_auth.audiences": []string{handler.ServiceName, names.Greeter}}

func main() { boot.Main("user", run) }

func run(args []string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	binary, err := boot.Start[Config](ctx, config.App{Name: "user", Defaults: defaults, Remote: true}, args, tracing.Internal, nil)
	if err != nil {
		return err
	}
	defer binary.Stop()
	cfg := binary.Config
	if err := metrics.Serve(ctx, cfg.Metrics); err != nil {
		return err
	}
	keys, err := auth.NewKeys(cfg.JWT)
	if err != nil {
		return err
	}
	lockouts, err := lockout.New(cfg.Lockout.Config, cfg.Lockout.MaxTracked, nil)
	if err != nil {
		return fmt.Errorf("lockout: %w", err)
	}
	// The token secrets (a key rotation) and the lockout follow the config server; other
	// changes are reported as needing a restart.
	binary.Follow(ctx, func(next Config) error {
		return errors.Join(keys.Update(next.JWT), lockouts.Update(next.Lockout.Config))
	})
	users, err := store.Open(cfg.Database.DSN)
	if err != nil {
		return err
	}
	defer users.Close()
	verifier, err := auth.NewVerifier(cfg.InternalAuth)
	if err != nil {
		return err
	}
	service, err := microsvc.New(handler.ServiceName, cfg.Config, nil, microsvc.API(userpb.File_user_user_proto),
		microsvc.VerifyCaller(handler.ServiceName, verifier))
	if err != nil {
		return err
	}
	brk, err := events.NewBroker(cfg.Broker, service.Registry(), "user")
	if err != nil {
		return err
	}
	bus := events.Start(ctx, brk)
	defer bus.Close()
	// Profiles are read on every hello, so they are cached; a deletion at any instance makes
	// every instance forget the account.
	cached := store.NewCached(users, 100_000, time.Minute)
	bus.Subscribe(ctx, events.UserDeleted, func(e events.UserEvent) { cached.Forget(e.UserID) })
	workers := cfg.Password.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	hashing, err := account.NewHashing(cfg.Password.BcryptCost, workers)
	if err != nil {
		return err
	}
	accounts, err := account.NewService(account.Deps{Store: cached, Sessions: users, Tokens: keys,
		Notifier: forgetting{Bus: bus, cache: cached}, Hashing: hashing, Lockout: lockouts, RefreshTTL: cfg.JWT.RefreshTTL})
	if err != nil {
		return err
	}
	if err := userpb.RegisterUserHandler(service.Server(), handler.New(accounts)); err != nil {
		return fmt.Errorf("register handler: %w", err)
	}
	return service.Run()
}

// forgetting tells the others through the bus, and forgets a deleted account here at once
// rather than when the event comes back.
type forgetting struct {
	*events.Bus
	cache *store.Cached
}

func (f forgetting) UserDeleted(id uint64) {
	f.cache.Forget(id)
	f.Bus.UserDeleted(id)
}
