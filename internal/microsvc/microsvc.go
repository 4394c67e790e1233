// Package microsvc builds the go-micro service every binary of the stack runs: registered in
// Consul with a TTL that is refreshed on an interval; calls balanced round-robin over healthy
// nodes, with retries on another node; on SIGTERM/SIGINT it leaves Consul first, drains its
// in-flight calls, then exits.
package microsvc

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/micro/go-micro/v2/client"
	"github.com/micro/go-micro/v2/registry"
	"github.com/micro/go-plugins/registry/consul/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/gomicro-stack/gomicro-stack/internal/rpcclient"
	"github.com/gomicro-stack/gomicro-stack/internal/rpcerror"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

// Registry is how a binary reaches Consul.
type Registry struct {
	// Address is the Consul agent's HTTP address.
	Address string `mapstructure:"address" default:"127.0.0.1:8500" usage:"Consul agent HTTP address"`
	// Token is the ACL token sent to the agent; it may register this binary's name only.
	Token string `mapstructure:"token" secret:"true" usage:"Consul ACL token (empty: CONSUL_HTTP_TOKEN)"`
}

// Stop is how a binary stops on SIGTERM/SIGINT (see RunStopping).
type Stop struct {
	// ShutdownDelay is how long a stopping binary keeps serving after leaving Consul, so that
	// callers' registry watches drop it before it stops accepting calls.
	ShutdownDelay time.Duration `mapstructure:"shutdown_delay" default:"500ms" usage:"on SIGTERM: how long to keep serving after leaving Consul"`
	// DrainTimeout bounds the wait for in-flight calls when stopping.
	DrainTimeout time.Duration `mapstructure:"drain_timeout" default:"5s" usage:"on SIGTERM: longest wait for in-flight calls"`
}

// ClientConfig holds the settings of a binary that only calls services (the gateway): it
// registers no RPC server, so it has no listen address, TTL or interval.
type ClientConfig struct {
	Registry Registry       `mapstructure:"registry"`
	Server   Stop           `mapstructure:"server"`
	Tracing  tracing.Config `mapstructure:"tracing"`
}

// Config holds the settings every service shares.
type Config struct {
	Registry struct {
		Registry `mapstructure:",squash"`
		// TTL is how long Consul keeps the registration without a refresh.
		TTL time.Duration `mapstructure:"ttl" default:"10s" usage:"registration TTL in Consul"`
		// Interval is how often the registration is refreshed; it must be below the TTL.
		Interval time.Duration `mapstructure:"interval" default:"5s" usage:"how often the registration is refreshed"`
	} `mapstructure:"registry"`
	Server struct {
		// Address is where the service's gRPC server listens; its host is what Consul advertises.
		Address string `mapstructure:"address" default:"127.0.0.1:0" usage:"gRPC listen address (port 0: any free port)"`
		Stop    `mapstructure:",squash"`
	} `mapstructure:"server"`
	Tracing tracing.Config `mapstructure:"tracing"`
}

// TracingConfig is where the service's tracing settings are (boot.Settings).
func (c Config) TracingConfig() tracing.Config { return c.Tracing }

// TracingConfig is where the client's tracing settings are (boot.Settings).
func (c ClientConfig) TracingConfig() tracing.Config { return c.Tracing }

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
func (r Registry) NewRegistry() registry.Registry {
	consulConfig := consulapi.DefaultNonPooledConfig()
	if r.Token != "" {
		consulConfig.Token = r.Token
	}
	return &healthyOnly{Registry: consul.NewRegistry(registry.Addrs(r.Address), consul.Config(consulConfig))}
}

// healthyOnly hides services without nodes. The Consul plugin registers a service and only then
// passes its TTL check; a lookup in between sees the service with zero healthy nodes, and
// go-micro's registry cache would keep that empty answer for its whole TTL (a minute of
// "service not found" for a service that is up). Reporting "not found" instead is never cached.
//
// It also makes deregistration idempotent: a stopping service leaves Consul first and go-micro
// deregisters it again on Stop, which Consul would answer with an error.
type healthyOnly struct {
	registry.Registry
	deregistered sync.Map // node id → struct{}
	// leaving stops go-micro's periodic re-registration once a stop has begun.
	leaving atomic.Bool
}

func (r *healthyOnly) Register(s *registry.Service, opts ...registry.RegisterOption) error {
	if r.leaving.Load() {
		return nil
	}
	for _, n := range s.Nodes {
		r.deregistered.Delete(n.Id)
	}
	return r.Registry.Register(s, opts...)
}

func (r *healthyOnly) Deregister(s *registry.Service, opts ...registry.DeregisterOption) error {
	pending := false
	for _, n := range s.Nodes {
		if _, done := r.deregistered.Load(n.Id); !done {
			pending = true
		}
	}
	if !pending && len(s.Nodes) > 0 {
		return nil
	}
	if err := r.Registry.Deregister(s, opts...); err != nil {
		return err
	}
	for _, n := range s.Nodes {
		r.deregistered.Store(n.Id, struct{}{})
	}
	return nil
}

func (r *healthyOnly) GetService(name string, opts ...registry.GetOption) ([]*registry.Service, error) {
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

// Keepalive: a connection to a node cut off by the network (a partition, a host that lost
// power) would otherwise stay in the pool, open and silent, until the kernel gives up on it
// (minutes). A ping every 10 s (gRPC's shortest) that must be answered within 2 s closes it;
// calls in flight meanwhile are bounded by attemptDeadline. Servers allow pings that often.
// (The cluster test's partition is survived by attemptDeadline alone: breaking it fails the
// test; the keepalive's own effect is not measured there.)
var (
	clientKeepalive = keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}
	// serverKeepalive is the ping policy of our gRPC servers: clients may ping every 5 s.
	serverKeepalive = grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true})
)

// streamWorkers is how many goroutines serve calls, each kept with its grown stack: gRPC
// otherwise starts a goroutine per call, whose stack go-micro's deep call path grows two or
// three times (runtime.newstack was a tenth of the greeter's CPU under load). A call finding
// every worker busy gets a goroutine of its own, as before; idle workers cost their stacks.
const streamWorkers = 64

// NewClient is a gRPC client through the registry reg: round-robin balancing that skips nodes
// refusing connections, and retries (see RetryPolicy), with idempotent naming the endpoints
// that may be retried after a failure mid-call. wrappers wrap it, the first outermost; a
// call's span (tracing.ClientWrapper) is outside them all, so that it holds what they did.
func NewClient(reg registry.Registry, idempotent []string, wrappers ...client.Wrapper) client.Client {
	c := RetryWrapper(idempotent...)(rpcclient.New(rpcerror.DialOptions(grpc.WithKeepaliveParams(clientKeepalive)),
		client.Registry(reg), client.Selector(NewSelector(reg))))
	for i := len(wrappers) - 1; i >= 0; i-- {
		c = wrappers[i](c)
	}
	return tracing.ClientWrapper(c)
}
