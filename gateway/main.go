// Command gateway runs the micro api gateway: HTTP on :8080, routed by path to go.micro.api.*
// services through Consul (`/greeter/hello` → go.micro.api.greeter Greeter.Hello), behind the
// edge rules, the abuse limits and JWT authentication, on an HTTP server with timeouts. Its
// settings come from the config server.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/handlers"
	"github.com/micro/go-micro/v2/client"
	"github.com/micro/go-micro/v2/client/selector"
	"github.com/micro/go-micro/v2/registry"
	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gomicro-stack/gomicro-stack/gateway/apiserver"
	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/gateway/jwtauth"
	"github.com/gomicro-stack/gomicro-stack/gateway/limits"
	"github.com/gomicro-stack/gomicro-stack/gateway/revocation"
	"github.com/gomicro-stack/gomicro-stack/gateway/routes"
	"github.com/gomicro-stack/gomicro-stack/gateway/shed"
	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/boot"
	"github.com/gomicro-stack/gomicro-stack/internal/breaker"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/events"
	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/registration"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	reflectionpb "github.com/gomicro-stack/gomicro-stack/proto/reflection"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

// Config is the gateway's configuration: each field declares its setting (config.Declare). The
// limits and the token secrets follow the config server; the rest applies at start.
type Config struct {
	HTTP struct {
		apiserver.Config `mapstructure:",squash"`
		Advertise        string `mapstructure:"advertise" usage:"host:port registered in Consul as service gateway, for load balancers (empty: the listen address, or this host's private IP)"`
	} `mapstructure:"http"`
	Gateway struct {
		// Routes and OpenPaths narrow what the registry holds; empty, they narrow nothing.
		Routes       []string      `mapstructure:"routes" usage:"serve only these of the routes the services register (empty: all of them); other paths answer 404"`
		OpenPaths    []string      `mapstructure:"open_paths" usage:"only these of the routes their services declare public need no token (empty: all of those)"`
		RouteGrace   time.Duration `mapstructure:"route_grace" default:"30s" usage:"routes of a service whose last instance left answer 503 this long, then 404"`
		MaxBodyBytes int64         `mapstructure:"max_body_bytes" default:"1048576" usage:"largest request body; larger gets 413"`
		CORSOrigins  []string      `mapstructure:"cors_origins" usage:"browser origins allowed by CORS (* = any, without credentials)"`
		AccessLog    bool          `mapstructure:"access_log" usage:"write an access log line per request to stdout (costs throughput)"`
	} `mapstructure:"gateway"`
	Revocation struct {
		SyncInterval time.Duration `mapstructure:"sync_interval" default:"5s" usage:"how often revoked tokens are read from the user service (an event makes it at once)"`
		// EventGap bounds the reads that events cause: anyone who can publish one can kick.
		EventGap time.Duration `mapstructure:"event_gap" default:"250ms" usage:"reads caused by auth.revoked events are at least this far apart (a flood of forged events costs one read per gap)"`
	} `mapstructure:"revocation"`
	Limits                limits.Config        `mapstructure:"limits"`
	Shedding              shed.Config          `mapstructure:"shedding"`
	JWT                   auth.VerifyConfig    `mapstructure:"jwt"`
	InternalAuth          auth.AssertionConfig `mapstructure:"internal_auth"`
	Breaker               breaker.Config       `mapstructure:"breaker"`
	Metrics               metrics.Config       `mapstructure:"metrics"`
	Broker                events.Config        `mapstructure:"broker"`
	microsvc.ClientConfig `mapstructure:",squash"`
}

// The gateway serves whatever the registry holds (package routes). It is built with the user's
// and the greeter's proto files all the same (greeterpb's blank import, userpb for its own
// calls): while those services run these very files, their routes use the generated types,
// with generated validation and without the cost of dynamic messages; any other service, or
// another version of these, is served from the descriptors it sends.
var compiledAPI = []protoreflect.FileDescriptor{userpb.File_user_user_proto, greeterpb.File_greeter_greeter_proto}

// defaults are the defaults the gateway computes: a longer breaker timeout, since its calls
// carry the services' own calls and their breakers' timeouts (1 s).
var defaults = map[string]any{"breaker.timeout": 5 * time.Second}

func main() { boot.Main("gateway", run) }

func run(args []string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	binary, err := boot.Start(ctx, config.App{Name: "gateway", Defaults: defaults, Remote: true}, args, tracing.Edge,
		func(c Config) error { return c.HTTP.Validate(c.Breaker.Timeout) })
	if err != nil {
		return err
	}
	defer binary.Stop()
	cfg := binary.Config
	limiter, err := limits.New(cfg.Limits)
	if err != nil {
		return err
	}
	shedder, err := shed.New(cfg.Shedding)
	if err != nil && !errors.Is(err, shed.ErrDisabled) {
		return err
	}
	if shedder != nil {
		prometheus.MustRegister(shedder)
	}
	keys, err := auth.NewKeys(auth.Config{VerifyConfig: cfg.JWT})
	if err != nil {
		return err
	}
	// The limits and the token secrets follow the config server; other changes need a restart.
	binary.Follow(ctx, func(next Config) error {
		return errors.Join(limiter.Update(next.Limits), keys.Update(auth.Config{VerifyConfig: next.JWT}))
	})
	if err := metrics.Serve(ctx, cfg.Metrics); err != nil {
		return err
	}
	signer, err := auth.NewSigner(cfg.InternalAuth)
	if err != nil {
		return err
	}
	microsvc.LogTo(os.Stderr)
	// Every call to a service runs as a hystrix command {service}.{endpoint}, without fallbacks:
	// an open breaker answers 503 at once instead of queueing clients on a dead service.
	if err := breaker.SetDefaults(cfg.Breaker); err != nil {
		return err
	}
	// The gateway is a client only: it serves and registers no RPC endpoint of its own. Hello,
	// Login, Revocations and the services' Reflection.Files may be tried again on another node
	// after a failure mid-call; Register only when the call cannot have run.
	registry := cfg.Registry.NewRegistry()
	rpc := microsvc.NewClient(registry, []string{"Greeter.Hello", "User.Login", "User.Revocations", "Reflection.Files"}, breaker.NewClientWrapper(nil))
	table := followRoutes(ctx, cfg, rpc, registry)
	listed, opened := only(cfg.Gateway.Routes), only(cfg.Gateway.OpenPaths)
	lookup := served(table, listed)
	api := apiserver.NewHandler(rpc, lookup)
	revoked, stopFollowing, err := followRevocations(ctx, cfg, rpc, registry)
	if err != nil {
		return err
	}
	defer stopFollowing()
	// Outermost: the edge (routes, body, well-formed text, error envelope) sees every request.
	handler := routesOf(api, shed.Middleware(shedder),
		jwtauth.Middleware(keys, revoked, signer, api.Audience, open(lookup, opened)), limits.Middleware(limiter))
	known := func(path string) bool { _, ok := lookup(path); return ok }
	handler = edge.Middleware(edge.Config{
		Known:          known,
		MaxBodyBytes:   cfg.Gateway.MaxBodyBytes,
		MaxHeaderBytes: cfg.HTTP.MaxHeaderBytes,
		CORSOrigins:    cfg.Gateway.CORSOrigins,
		OpenAPI:        func() ([]byte, error) { return table.Document(asServed(listed, opened)) },
	})(handler)
	if cfg.Gateway.AccessLog {
		handler = handlers.CustomLoggingHandler(os.Stdout, handler, tracing.AccessLine)
	}
	// Outermost: every answer, a refusal at the edge too, belongs to a trace and says which.
	handler = tracing.HTTPMiddleware(spanName(known))(handler)
	server, err := apiserver.Listen(cfg.HTTP.Config, handler)
	if err != nil {
		return err
	}
	log.Printf("gateway listening on %s", server.Addr())
	// Load balancers (deploy/nginx) find gateways in Consul as "gateway", by HTTP address.
	advertised, err := registration.Advertise(cfg.HTTP.Advertise, cfg.HTTP.Address)
	if err != nil {
		return err
	}
	// The listener is bound before registering, so the gateway starts out passing.
	announced, leave := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() {
		left <- registration.Keep(announced, registration.Config{
			ConsulAddress: cfg.Registry.Address, ConsulToken: cfg.Registry.Token, Name: names.Gateway, Address: advertised,
			HealthPath: "/health", CheckInterval: 2 * time.Second, Healthy: func() bool { return true },
		}, 5*time.Second)
	}()
	// On SIGTERM the gateway leaves Consul first, so that load balancers stop sending here,
	// then stops accepting and answers what is in flight.
	leaveConsul := func() {
		leave()
		if err := <-left; err != nil {
			log.Printf("leave Consul: %v", err)
		}
	}
	return cfg.Server.RunStopping(server.Serve, leaveConsul, func() { server.Stop(cfg.Server.DrainTimeout) })
}

// routesOf serves the routes of api behind shedding, authentication and limits, in this
// order: the load shedder first (a refusal must cost nothing), then the request is read once
// into its route's message (api.Decoding), and authentication, the limits and the call all
// decide on that one reading (package request).
func routesOf(api *apiserver.Handler, shedding, authentication, limit func(http.Handler) http.Handler) http.Handler {
	return shedding(api.Decoding(authentication(limit(http.HandlerFunc(api.Call)))))
}

// spanName names a request's span by its method and route; paths that are no route share one
// name, since a caller chooses them.
func spanName(known func(string) bool) func(*http.Request) string {
	return func(r *http.Request) string {
		if path := edge.CleanPath(r.URL.Path); known(path) {
			return tracing.KnownMethod(r.Method) + " " + path
		}
		return tracing.MethodName(r)
	}
}

// only says whether a path is listed; nil when none is, which lets any path through
// (gateway.routes and gateway.open_paths narrow what the services declare; empty, they narrow
// nothing).
func only(listed []string) func(string) bool {
	if len(listed) == 0 {
		return nil
	}
	return edge.Paths(listed...)
}

// lets says whether listed (from only) lets path through.
func lets(listed func(string) bool, path string) bool { return listed == nil || listed(path) }

// served finds the routes of table that listed lets through: the table's own lookup when
// nothing is listed (it runs several times a request).
func served(table *routes.Table, listed func(string) bool) apiserver.Lookup {
	if listed == nil {
		return table.Lookup
	}
	return func(path string) (*routes.Route, bool) {
		if !listed(path) {
			return nil, false
		}
		return table.Lookup(path)
	}
}

// open says which paths need no token: the routes their services declare public that listed
// lets through.
func open(lookup apiserver.Lookup, listed func(string) bool) func(string) bool {
	return func(path string) bool {
		r, ok := lookup(path)
		return ok && r.Public && lets(listed, path)
	}
}

// asServed is a route as the OpenAPI document must tell it: as served (false: not served at
// all), public only where the gateway lets it be.
func asServed(listed, opened func(string) bool) func(*routes.Route) (apispec.Route, bool) {
	return func(r *routes.Route) (apispec.Route, bool) {
		out := r.Route
		out.Public = r.Public && lets(opened, r.Path)
		return out, lets(listed, r.Path)
	}
}

// followRoutes keeps the route table in step with the registry: read before serving, every
// service's API or for at most 5 s (so that a gateway starting beside running services serves
// their routes at once), then followed.
func followRoutes(ctx context.Context, cfg Config, rpc client.Client, reg registry.Registry) *routes.Table {
	table := routes.NewTable()
	watcher := &routes.Watcher{Registry: reg, Namespace: names.Namespace, Grace: cfg.Gateway.RouteGrace, Table: table,
		Fetch: func(ctx context.Context, service, version string) ([][]byte, error) {
			rsp, err := reflectionpb.NewReflectionService(service, rpc).Files(ctx, &reflectionpb.FilesRequest{},
				client.WithSelectOption(selector.WithFilter(selector.FilterVersion(version))))
			if err != nil {
				return nil, err
			}
			return rsp.GetFiles(), nil
		}}
	first, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := watcher.Settle(first); err != nil {
		log.Printf("routes: first read of the registry incomplete (%v); following it", err)
	}
	go watcher.Run(ctx)
	return table
}

// followRevocations keeps a list of the revoked tokens from the user service: read before
// serving (a gateway that starts must not let a logged-out token through), then every
// revocation.sync_interval and whenever an auth.revoked event arrives.
func followRevocations(ctx context.Context, cfg Config, rpc client.Client, reg registry.Registry) (*revocation.List, func() error, error) {
	users := userpb.NewUserService(names.User, rpc)
	fetch := func(ctx context.Context, sinceMs int64) ([]revocation.Entry, int64, error) {
		rsp, err := users.Revocations(ctx, &userpb.RevocationsRequest{SinceUnixMs: sinceMs})
		if err != nil {
			return nil, 0, err
		}
		entries := make([]revocation.Entry, len(rsp.GetRevocations()))
		for i, r := range rsp.GetRevocations() {
			entries[i] = revocation.Entry{TokenID: r.GetTokenId(), UserID: r.GetUserId(), IssuedBefore: r.GetIssuedBefore(), Until: r.GetUntil()}
		}
		return entries, rsp.GetNowUnixMs(), nil
	}
	list := revocation.NewList()
	syncer := revocation.NewSyncer(list, fetch, 2*time.Second, cfg.Revocation.EventGap)
	if err := syncer.Sync(ctx); err != nil {
		// The user service may start after the gateway: until it answers, tokens revoked
		// before are not known here (and expire within jwt.ttl).
		log.Printf("revocations: first read failed (%v); reading every %s", err, cfg.Revocation.SyncInterval)
	}
	brk, err := events.NewBroker(cfg.Broker, reg, "gateway")
	if err != nil {
		return nil, nil, err
	}
	bus := events.Start(ctx, brk)
	bus.Subscribe(ctx, events.TokensRevoked, func(events.UserEvent) { syncer.Kick() })
	go syncer.Run(ctx, cfg.Revocation.SyncInterval)
	return list, bus.Close, nil
}
