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

// Registry returns a Consul registry for the configured agent that only ever reports services
// with at least one healthy node.
func (c Config) Registry() registry.Registry {
	return healthyOnly{consul.NewRegistry(registry.Addrs(c.RegistryAddress))}
}

// healthyOnly hides services without nodes. The Consul plugin registers a service and only then
// passes its TTL check; a lookup in between sees the service with zero healthy nodes, and
// go-micro's registry cache would keep that empty answer for its whole TTL (a minute of
// "service not found" for a service that is up). Reporting "not found" instead is never cached.
type healthyOnly struct {
	registry.Registry
}

func (r healthyOnly) GetService(name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	services, err := r.Registry.GetService(name, opts...)
	if err != nil {
		return nil, err
	}
	withNodes := make([]*registry.Service, 0, len(services))
	for _, s := range services {
		if len(s.Nodes) > 0 {
			withNodes = append(withNodes, s)
		}
	}
	if len(withNodes) == 0 {
		return nil, registry.ErrNotFound
	}
	return withNodes, nil
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
