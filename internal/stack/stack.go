package stack

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/consulacl"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
)

// Config says where the binaries are and which ports and files the system uses.
type Config struct {
	// BinDir holds configserver, user, greeter and gateway.
	BinDir string
	// ConsulBin is the consul executable.
	ConsulBin string
	// ConsulPorts are the agent's ports; a zero HTTP port means "use an agent already running
	// at 127.0.0.1:8500, or start one on Consul's default ports".
	ConsulPorts ConsulPorts
	// ConsulManagementToken is the agent's initial management token, with which Start gives
	// every binary a token of its own (ACLs on, default deny); empty: Start makes one for the
	// agent it starts. An agent already running needs its own.
	ConsulManagementToken string
	// GatewayAddress is the gateway's HTTP listen address, e.g. ":8080".
	GatewayAddress string
	// ConfigServerAddress is the config server's HTTP listen address, e.g. "127.0.0.1:8888".
	ConfigServerAddress string
	// ConfigRepo is the folder or git repository the config server serves.
	ConfigRepo string
	// ConfigServerArgs are extra flags of the config server (e.g. --repo_search_path).
	ConfigServerArgs []string
	// DatabaseDSN is the user service's database.
	DatabaseDSN string
	// JWTSecret signs and verifies tokens.
	JWTSecret string
	// InternalKey is the gateway's Ed25519 key (a base64 seed) that signs callers' identities
	// for the services; empty: Start makes one. Signed identities live a minute, so a new key
	// for every run loses nothing.
	InternalKey string
	// UserInstances and GreeterInstances are how many of each service to start (0 means 1).
	UserInstances, GreeterInstances int
	// BreakerStreamPort is the first greeter's breaker dashboard port, the next greeters take
	// the ports after it; 0 gives each a free port.
	BreakerStreamPort int
	// MetricsPort is the gateway's /metrics port, the user instances take the ports after it;
	// 0 gives each a free port. (Greeters serve /metrics beside their dashboard.)
	MetricsPort int
	// Tracing starts Jaeger and sends every binary's spans to it.
	Tracing Tracing
	// Env is added to the environment of user, greeter and gateway (e.g. PROFILE=dev).
	Env []string
	// Out receives every process's output lines, prefixed.
	Out io.Writer
}

// ConsulPorts are a Consul dev agent's listening ports.
type ConsulPorts struct {
	HTTP, SerfLAN, Server int
}

// Stack is the running system.
type Stack struct {
	Config
	Consul       *Process // nil when an agent was already running
	Jaeger       *Process // nil without Config.Tracing.JaegerBin
	ConfigServer *Process
	// Users and Greeters are every instance; User and Greeter the first of each.
	Users, Greeters []*Process
	User            *Process
	Greeter         *Process
	Gateway         *Process
	// Added are the services make service added (names.Added), one instance each.
	Added []*Process
	// BreakerURLs are the greeters' breaker dashboards, e.g. http://127.0.0.1:8181/.
	BreakerURLs []string
	// MetricsURLs are every /metrics endpoint, by process name.
	MetricsURLs []string
	// GatewayMetricsURL is the gateway's /metrics (its breakers' states among them).
	GatewayMetricsURL string
	// ConsulAddress is the agent's HTTP address (host:port).
	ConsulAddress string
	// ConfigServerURL is the config server's base URL, e.g. http://127.0.0.1:8888.
	ConfigServerURL string
	// GatewayURL is the gateway's base URL, e.g. http://127.0.0.1:8080.
	GatewayURL string
	// JaegerURL is Jaeger's UI and query API (http://127.0.0.1:port), TracingEndpoint where
	// it takes spans (host:port, OTLP/HTTP); empty without Jaeger.
	JaegerURL, TracingEndpoint string
	// jaegerUI is JaegerURL's host:port, jaegerPorts its gRPC query and health ports.
	jaegerUI    string
	jaegerPorts [2]string
	// InternalPublicKey is InternalKey's public key (base64), which the services verify with.
	InternalPublicKey string
	// ConsulTokens are the binaries' Consul ACL tokens by binary name, and "reader": a
	// read-only token for tools and tests.
	ConsulTokens map[string]string
	out          *lockedWriter
}

// ServiceNames are the registry names of the processes the stack registers in Consul.
var ServiceNames = []string{names.ConfigServer, names.User, names.Greeter, names.Gateway}

// Start launches the system and returns once /greeter/hello is routable end to end. On error
// everything started so far is stopped again.
func Start(c Config) (*Stack, error) {
	s := &Stack{Config: c, out: &lockedWriter{out: c.Out}}
	if s.InternalKey == "" {
		_, private, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		s.InternalKey = base64.StdEncoding.EncodeToString(private.Seed())
	}
	private, err := auth.ParsePrivateKey(s.InternalKey)
	if err != nil {
		return nil, err
	}
	s.InternalPublicKey = base64.StdEncoding.EncodeToString(private.Public().(ed25519.PublicKey))
	if err := s.makeConsulTokens(); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Stack) start() error {
	if err := s.startConsul(); err != nil {
		return err
	}
	if err := s.startTracing(); err != nil {
		return err
	}
	if err := s.startConfigServer(); err != nil {
		return err
	}
	// The services discover the config server in Consul; a stack that cannot reach it is broken,
	// so they fail fast instead of starting on defaults.
	env := append([]string{
		"REGISTRY_ADDRESS=" + s.ConsulAddress,
		"JWT_SECRET=" + s.JWTSecret,
		"CONFIG_FAIL_FAST=true",
	}, append(s.tracingEnv(), s.Env...)...)
	for i := 0; i < max(1, s.UserInstances); i++ {
		metricsAddress, err := portAfter(s.MetricsPort, 1+i)
		if err != nil {
			return err
		}
		p, err := s.StartService("user", env, "--database_dsn", s.DatabaseDSN, "--metrics_address", metricsAddress)
		if err != nil {
			return err
		}
		s.Users = append(s.Users, p)
		s.MetricsURLs = append(s.MetricsURLs, "http://"+metricsAddress+"/metrics")
	}
	for i := 0; i < max(1, s.GreeterInstances); i++ {
		address, err := portAfter(s.BreakerStreamPort, i)
		if err != nil {
			return err
		}
		p, err := s.StartService("greeter", env, "--breaker_stream_address", address)
		if err != nil {
			return err
		}
		s.Greeters = append(s.Greeters, p)
		s.BreakerURLs = append(s.BreakerURLs, "http://"+address+"/")
		s.MetricsURLs = append(s.MetricsURLs, "http://"+address+"/metrics")
	}
	s.User, s.Greeter = s.Users[0], s.Greeters[0]
	for _, name := range names.Added {
		p, err := s.StartService(name, env)
		if err != nil {
			return err
		}
		s.Added = append(s.Added, p)
	}
	metricsAddress, err := portAfter(s.MetricsPort, 0)
	if err != nil {
		return err
	}
	if s.Gateway, err = s.StartService("gateway", env, "--http_address", s.GatewayAddress, "--metrics_address", metricsAddress); err != nil {
		return err
	}
	s.GatewayMetricsURL = "http://" + metricsAddress + "/metrics"
	s.MetricsURLs = append(s.MetricsURLs, s.GatewayMetricsURL)
	_, port, err := net.SplitHostPort(s.GatewayAddress)
	if err != nil {
		return fmt.Errorf("gateway address %q: %w", s.GatewayAddress, err)
	}
	s.GatewayURL = "http://127.0.0.1:" + port
	return s.waitRoutable(30 * time.Second)
}

func (s *Stack) startConfigServer() error {
	_, port, err := net.SplitHostPort(s.ConfigServerAddress)
	if err != nil {
		return fmt.Errorf("config server address %q: %w", s.ConfigServerAddress, err)
	}
	s.ConfigServerURL = "http://127.0.0.1:" + port
	args := append([]string{"--http_address", s.ConfigServerAddress, "--registry_address", s.ConsulAddress,
		"--repo_uri", s.ConfigRepo}, s.ConfigServerArgs...)
	if s.ConfigServer, err = s.StartService("configserver", s.tracingEnv(), args...); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	return s.ConfigServer.WaitReady(20*time.Second, func() error {
		if err := AnswersOK(client, s.ConfigServerURL+"/actuator/health"); err != nil {
			return err
		}
		if n, err := s.PassingInConsul(client, names.ConfigServer); err != nil || n == 0 {
			return fmt.Errorf("no passing config-server in Consul yet (%v)", err)
		}
		return nil
	})
}

// PassingInConsul counts the instances of service whose checks pass, asking with the stack's
// read-only token.
func (s *Stack) PassingInConsul(client *http.Client, service string) (int, error) {
	return PassingInConsul(client, s.ConsulAddress, s.ConsulTokens["reader"], service)
}

// PassingInConsul counts the instances of service whose checks pass, asking the agent at
// consulAddress with token.
func PassingInConsul(client *http.Client, consulAddress, token, service string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+consulAddress+"/v1/health/service/"+service+"?passing=1", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Consul-Token", token)
	rsp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	if rsp.StatusCode != http.StatusOK {
		rsp.Body.Close()
		return 0, fmt.Errorf("consul health of %s: %s", service, rsp.Status)
	}
	defer rsp.Body.Close()
	var entries []json.RawMessage
	if err := json.NewDecoder(rsp.Body).Decode(&entries); err != nil {
		return 0, fmt.Errorf("consul health of %s: %w", service, err)
	}
	return len(entries), nil
}

// portAfter is 127.0.0.1:(base+offset), or a free port when base is 0.
func portAfter(base, offset int) (string, error) {
	port := base + offset
	if base == 0 {
		var err error
		if port, err = FreePort(); err != nil {
			return "", err
		}
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// Processes are the stack's running processes in the order they started.
func (s *Stack) Processes() []*Process {
	var out []*Process
	// Jaeger stops after the services, which send their last spans as they stop.
	all := append(append(append([]*Process{s.Consul, s.Jaeger, s.ConfigServer}, s.Users...), s.Greeters...), s.Added...)
	for _, p := range append(all, s.Gateway) {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// StartService starts one more process of a binary (configserver, user, greeter, gateway)
// with env and args. Each gets its own Consul token; the gateway gets the stack's internal key
// to sign callers' identities with, user and greeter its public key to verify them.
func (s *Stack) StartService(name string, env []string, args ...string) (*Process, error) {
	keys := []string{"REGISTRY_TOKEN=" + s.ConsulTokens[name]}
	switch name {
	case "gateway":
		keys = append(keys, "INTERNAL_AUTH_PRIVATE_KEY="+s.InternalKey)
	case "configserver":
	default: // user, greeter and the services make service added
		keys = append(keys, "INTERNAL_AUTH_PUBLIC_KEYS="+s.InternalPublicKey)
	}
	return startProcess(name, s.out, filepath.Join(s.BinDir, name), args, append(keys, env...))
}

// StartBinary starts a binary that is no part of the stack (a test's own service), its output
// beside the stack's; the caller stops it.
func (s *Stack) StartBinary(name, bin string, env []string, args ...string) (*Process, error) {
	return startProcess(name, s.out, bin, args, env)
}

// makeConsulTokens picks the management token and every binary's token.
func (s *Stack) makeConsulTokens() error {
	s.ConsulTokens = map[string]string{}
	for _, name := range append([]string{"configserver", "user", "greeter", "gateway", "reader"}, names.Added...) {
		secret, err := consulacl.NewSecret()
		if err != nil {
			return err
		}
		s.ConsulTokens[name] = secret
	}
	if s.ConsulManagementToken == "" {
		var err error
		s.ConsulManagementToken, err = consulacl.NewSecret()
		return err
	}
	return nil
}

// applyACL gives every binary its token in the agent.
func (s *Stack) applyACL() error {
	grants, err := consulacl.Grants(s.ConsulTokens)
	if err != nil {
		return err
	}
	client, err := consulapi.NewClient(&consulapi.Config{Address: s.ConsulAddress, Token: s.ConsulManagementToken})
	if err != nil {
		return err
	}
	// Right after the leader is elected, the agent may still be setting up its ACLs.
	return Eventually(20*time.Second, 100*time.Millisecond, func() error { return consulacl.Apply(client, grants) })
}

// StartConsul starts the stack's Consul agent again, on the same ports, after a test stopped
// it: a dev agent starts empty, as a restarted one does.
func (s *Stack) StartConsul() error { return s.startConsul() }

func (s *Stack) startConsul() error {
	if s.ConsulPorts.HTTP == 0 {
		s.ConsulAddress = "127.0.0.1:8500"
		if consulLeader(s.ConsulAddress) == nil {
			s.out.writeLine("stack", "using the Consul agent already running at "+s.ConsulAddress)
			if err := s.applyACL(); err != nil {
				return fmt.Errorf("the Consul agent already running at %s refused to create our tokens (give its management token in CONSUL_HTTP_TOKEN, or stop it): %w", s.ConsulAddress, err)
			}
			return nil
		}
	} else {
		s.ConsulAddress = "127.0.0.1:" + strconv.Itoa(s.ConsulPorts.HTTP)
	}
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-log-level", "warn", "-dns-port", "-1", "-grpc-port", "-1", "-serf-wan-port", "-1",
		"-hcl", "ports { grpc_tls = -1 }", "-hcl", consulacl.AgentConfig(s.ConsulManagementToken)}
	if p := s.ConsulPorts; p.HTTP != 0 {
		args = append(args, "-http-port", strconv.Itoa(p.HTTP),
			"-serf-lan-port", strconv.Itoa(p.SerfLAN), "-server-port", strconv.Itoa(p.Server))
	}
	var err error
	if s.Consul, err = startProcess("consul", s.out, s.ConsulBin, args, nil); err != nil {
		return err
	}
	s.Consul.stopSignal, s.Consul.anyExitOnStop = os.Interrupt, true
	if err := s.Consul.WaitReady(20*time.Second, func() error { return consulLeader(s.ConsulAddress) }); err != nil {
		return err
	}
	return s.applyACL()
}

// consulLeader succeeds once the agent at addr answers and has elected a leader.
func consulLeader(addr string) error {
	rsp, err := http.Get("http://" + addr + "/v1/status/leader")
	if err != nil {
		return err
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != 200 || len(bytes.Trim(bytes.TrimSpace(body), `"`)) == 0 {
		return fmt.Errorf("consul at %s has no leader yet", addr)
	}
	return nil
}

// waitRoutable polls until both services answer through the gateway: a made-up refresh token
// must come back 401 from the user service, and a hello on behalf of an account that
// does not exist must come back "user not found", which only the user service can say after the
// auth plugin and the greeter let it through.
func (s *Stack) waitRoutable(timeout time.Duration) error {
	keys, err := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: s.JWTSecret, Issuer: "gomicro-stack"}, TTL: time.Minute})
	if err != nil {
		return err
	}
	issued, err := keys.Issue(auth.Identity{UserID: 1 << 62, Username: "readiness-probe"})
	if err != nil {
		return err
	}
	token := issued.Token
	probes := []struct {
		path, body, token string
		status            int
		message           string
	}{
		{"/user/refresh", `{"refresh_token":"readiness-probe"}`, "", http.StatusUnauthorized, "refresh token is not valid; please login"},
		{"/greeter/hello", `{"name":"probe"}`, token, http.StatusNotFound, "user not found"},
	}
	client := &http.Client{Timeout: 2 * time.Second}
	return Eventually(timeout, 50*time.Millisecond, func() error {
		for _, p := range s.Processes() {
			if exited, err := p.Exited(); exited && p != s.Consul && p != s.Jaeger {
				return fmt.Errorf("%s exited: %v", p.Name, err)
			}
		}
		passing := map[string]int{names.User: len(s.Users), names.Greeter: len(s.Greeters)}
		for _, name := range names.Added {
			passing[names.Namespace+"."+name] = 1
		}
		for name, want := range passing {
			if n, err := s.PassingInConsul(client, name); err != nil || n < want {
				return fmt.Errorf("%d of %d %s instances passing in Consul (%v)", n, want, name, err)
			}
		}
		for _, p := range probes {
			req, _ := http.NewRequest("POST", s.GatewayURL+p.path, strings.NewReader(p.body))
			req.Header.Set("Content-Type", "application/json")
			if p.token != "" {
				req.Header.Set("Authorization", "Bearer "+p.token)
			}
			rsp, err := client.Do(req)
			if err != nil {
				return err
			}
			var body struct {
				Message string `json:"message"`
			}
			json.NewDecoder(rsp.Body).Decode(&body)
			rsp.Body.Close()
			if rsp.StatusCode != p.status || body.Message != p.message {
				return fmt.Errorf("%s answered %d %q", p.path, rsp.StatusCode, body.Message)
			}
		}
		return nil
	})
}

// Stop ends the processes in the reverse order of their start, so that the services deregister
// while Consul still runs.
func (s *Stack) Stop() error {
	var errs []error
	processes := s.Processes()
	for i := len(processes) - 1; i >= 0; i-- {
		p := processes[i]
		if err := p.Stop(10 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// FreePort returns a TCP port on 127.0.0.1 that is free now and that no other caller in this
// process has been given. It is chosen below the kernel's ephemeral range: a port the kernel
// handed out for ":0" could be handed out again, to any process that binds ":0" (a gRPC server,
// a broker) before the one it was meant for, which then fails with "address already in use".
func FreePort() (int, error) {
	low := ephemeralLow()
	givenMu.Lock()
	defer givenMu.Unlock()
	for range 1000 {
		port := firstPort + rand.IntN(low-firstPort)
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		given[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free port between %d and %d", firstPort, low)
}

// firstPort is the lowest port FreePort gives out.
const firstPort = 20000

var (
	givenMu sync.Mutex
	given   = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's default where it
// cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if fields := strings.Fields(string(b)); len(fields) == 2 {
			if low, err := strconv.Atoi(fields[0]); err == nil && low > firstPort+1000 {
				return low
			}
		}
	}
	return 32768
}

// FindConsul returns a consul executable: CONSUL_BIN, then one on PATH, then bin/consul under
// repoRoot.
func FindConsul(repoRoot string) (string, error) {
	if p := os.Getenv("CONSUL_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	p := filepath.Join(repoRoot, "bin", "consul")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no consul on PATH and no %s: run `make consul`", p)
	}
	return p, nil
}
