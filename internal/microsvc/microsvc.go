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
	Registry struct {
		// Address is the Consul agent's HTTP address.
		Address string `mapstructure:"address"`
		// TTL is how long Consul keeps the registration without a refresh.
		TTL time.Duration `mapstructure:"ttl"`
		// Interval is how often the registration is refreshed; it must be below the TTL.
		Interval time.Duration `mapstructure:"interval"`
	} `mapstructure:"registry"`
	Server struct {
		// Address is where the service's gRPC server listens; its host is what Consul advertises.
		Address string `mapstructure:"address"`
	} `mapstructure:"server"`
}

// Settings are the shared settings, to be listed with a service's own.
func Settings() []config.Setting {
	return []config.Setting{
		{Key: config.RegistryKey, Default: "127.0.0.1:8500", Usage: "Consul agent HTTP address"},
		{Key: "registry.ttl", Default: 10 * time.Second, Usage: "registration TTL in Consul"},
		{Key: "registry.interval", Default: 5 * time.Second, Usage: "how often the registration is refreshed"},
		{Key: "server.address", Default: "127.0.0.1:0", Usage: "gRPC listen address (port 0: any free port)"},
	}
}

// Validate reports settings that cannot work together.
func (c Config) Validate() error {
	ttl, interval := c.Registry.TTL, c.Registry.Interval
	if ttl <= 0 || interval <= 0 {
		return fmt.Errorf("registry.ttl (%s) and registry.interval (%s) must be positive", ttl, interval)
	}
	if interval >= ttl {
		return fmt.Errorf("registry.interval (%s) must be shorter than registry.ttl (%s), or registrations expire", interval, ttl)
	}
	return nil
}

// NewRegistry returns a Consul registry for the configured agent that only ever reports
// services with at least one healthy node.
func (c Config) NewRegistry() registry.Registry {
	return healthyOnly{consul.NewRegistry(registry.Addrs(c.Registry.Address))}
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
		micro.Registry(c.NewRegistry()),
		micro.Address(c.Server.Address),
		micro.RegisterTTL(c.Registry.TTL),
		micro.RegisterInterval(c.Registry.Interval),
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
