// Package microsvc builds the go-micro service every binary of the stack runs: registered in
// Consul with a TTL that is refreshed on an interval, deregistered on SIGTERM/SIGINT.
package microsvc

import (
	"fmt"
	"time"

	"github.com/micro/go-micro/v2"
	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-plugins/registry/consul/v2"

	"github.com/gomicro-stack/gomicro-stack/internal/config"
)

// Config holds the settings every service shares.
type Config struct {
	// RegistryAddress is the Consul agent's HTTP address.
	RegistryAddress string `mapstructure:"registry_address"`
	// RegisterTTL is how long Consul keeps the registration without a refresh.
	RegisterTTL time.Duration `mapstructure:"register_ttl"`
	// RegisterInterval is how often the registration is refreshed; it must be below the TTL.
	RegisterInterval time.Duration `mapstructure:"register_interval"`
	// ServerAddress is where the service's gRPC server listens; its host is what Consul advertises.
	ServerAddress string `mapstructure:"server_address"`
}

// Settings are the shared settings, to be listed with a service's own.
func Settings() []config.Setting {
	return []config.Setting{
		{Key: "registry_address", Default: "127.0.0.1:8500", Usage: "Consul agent HTTP address"},
		{Key: "register_ttl", Default: 10 * time.Second, Usage: "registration TTL in Consul"},
		{Key: "register_interval", Default: 5 * time.Second, Usage: "how often the registration is refreshed"},
		{Key: "server_address", Default: "127.0.0.1:0", Usage: "gRPC listen address (port 0: any free port)"},
	}
}

// Validate reports settings that cannot work together.
func (c Config) Validate() error {
	if c.RegisterTTL <= 0 || c.RegisterInterval <= 0 {
		return fmt.Errorf("register_ttl (%s) and register_interval (%s) must be positive", c.RegisterTTL, c.RegisterInterval)
	}
	if c.RegisterInterval >= c.RegisterTTL {
		return fmt.Errorf("register_interval (%s) must be shorter than register_ttl (%s), or registrations expire", c.RegisterInterval, c.RegisterTTL)
	}
	return nil
}

// Registry returns a Consul registry for the configured agent.
func (c Config) Registry() registry.Registry {
	return consul.NewRegistry(registry.Addrs(c.RegistryAddress))
}

// Options are the go-micro options that apply c: registry, listen address, TTL and interval.
func (c Config) Options() ([]micro.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return []micro.Option{
		micro.Registry(c.Registry()),
		micro.Address(c.ServerAddress),
		micro.RegisterTTL(c.RegisterTTL),
		micro.RegisterInterval(c.RegisterInterval),
	}, nil
}

// New builds a go-micro service named name. extra options (wrappers, clients) follow the shared
// ones, so a service can override any of them.
func New(name string, c Config, extra ...micro.Option) (micro.Service, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	opts = append([]micro.Option{micro.Name(name)}, opts...)
	return micro.NewService(append(opts, extra...)...), nil
}
