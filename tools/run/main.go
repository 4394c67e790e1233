// Command run starts the whole system in the foreground for `make run`: a Consul dev agent (or
// the one already on 127.0.0.1:8500), the config server on :8888 serving config-repo/, then
// user, greeter and the gateway on :8080, all booting from the config server, with each
// process's log lines prefixed by its name. Ctrl-C or SIGTERM stops everything; services
// deregister before Consul goes. An instance that dies is reported; the rest keep running.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run() error {
	binDir := flag.String("bin", "bin", "folder with the configserver, user, greeter and gateway binaries")
	consulBin := flag.String("consul", "", "consul executable (default: on PATH, else bin/consul)")
	gateway := flag.String("gateway", ":8080", "gateway HTTP listen address")
	dsn := flag.String("database", "var/user.db", "user database: SQLite path or postgres:// URL")
	configServer := flag.String("config_server", "127.0.0.1:8888", "config server HTTP listen address")
	configRepo := flag.String("config_repo", "config-repo", "folder or git repository the config server serves")
	profile := flag.String("profile", "default", "configuration profile of user, greeter and gateway")
	users := flag.Int("users", 1, "user service instances")
	greeters := flag.Int("greeters", 1, "greeter instances (dashboards on :8181, :8182, ...)")
	jaegerBin := flag.String("jaeger", "", "jaeger executable: start Jaeger and trace every request (empty: no tracing backend)")
	jaegerUIPort := flag.Int("jaeger_ui_port", 16686, "Jaeger UI and query API port on 127.0.0.1 (with --jaeger)")
	jaegerUIAssets := flag.String("jaeger_ui_assets", os.Getenv("JAEGER_UI_ASSETS"), "folder of a built Jaeger UI (with --jaeger; default: the binary's placeholder page)")
	flag.Parse()

	if *consulBin == "" {
		var err error
		if *consulBin, err = stack.FindConsul("."); err != nil {
			return err
		}
	}
	secret, err := jwtSecret("var/jwt-secret")
	if err != nil {
		return err
	}

	// Catch signals before starting anything, so an early Ctrl-C still cleans up.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	began := time.Now()
	s, err := stack.Start(stack.Config{
		BinDir:              *binDir,
		ConsulBin:           *consulBin,
		GatewayAddress:      *gateway,
		ConfigServerAddress: *configServer,
		ConfigRepo:          *configRepo,
		DatabaseDSN:         *dsn,
		JWTSecret:           secret,
		// An agent already running at :8500 needs its management token; the one Start runs
		// gets a new one.
		ConsulManagementToken: os.Getenv("CONSUL_HTTP_TOKEN"),
		Tracing: stack.Tracing{JaegerBin: *jaegerBin, JaegerConfig: "deploy/jaeger/config.yaml",
			UIPort: *jaegerUIPort, OTLPPort: 4318, UIAssets: *jaegerUIAssets},
		Env:               []string{"PROFILE=" + *profile},
		UserInstances:     *users,
		GreeterInstances:  *greeters,
		BreakerStreamPort: 8181,
		MetricsPort:       9464,
		Out:               os.Stdout,
	})
	if err != nil {
		return err
	}
	// Consul denies anonymous callers: its UI wants a token. The management one is written
	// where only this user can read it.
	const tokenFile = "var/consul-token"
	if err := os.WriteFile(tokenFile, []byte(s.ConsulManagementToken+"\n"), 0o600); err != nil {
		return err
	}
	traces := "tracing off: make run TRACING=1 starts Jaeger"
	if s.JaegerURL != "" {
		traces = "traces in Jaeger " + s.JaegerURL + "/trace/<trace_id>, the id every answer's traceparent header and error body give"
	}
	fmt.Printf("ready in %.1fs: %s/greeter/hello is routable (user pids %s, greeter pids %s; config server %s, profile %s; breakers %s; Consul UI http://%s/ui with the token in %s; %s). Ctrl-C stops everything.\n",
		time.Since(began).Seconds(), s.GatewayURL, pids(s.Users), pids(s.Greeters), s.ConfigServerURL, *profile, strings.Join(s.BreakerURLs, " "), s.ConsulAddress, tokenFile, traces)

	// An instance that dies is reported and the others keep running, so that one can be killed
	// (kill -9 <pid>) to watch the rest cope. Only a signal stops everything.
	var stopping atomic.Bool
	for _, p := range s.Processes() {
		go func() {
			<-p.Done()
			if !stopping.Load() {
				_, err := p.Exited()
				fmt.Printf("%s (pid %d) exited (%v); the others keep running\n", p.Name, p.PID(), err)
			}
		}()
	}
	sig := <-signals
	stopping.Store(true)
	fmt.Printf("%s received: stopping\n", sig)
	if err := s.Stop(); err != nil {
		return err
	}
	fmt.Println("stopped")
	return nil
}

// pids lists the process ids of ps.
func pids(ps []*stack.Process) string {
	var ids []string
	for _, p := range ps {
		ids = append(ids, strconv.Itoa(p.PID()))
	}
	return strings.Join(ids, ", ")
}

// jwtSecret is JWT_SECRET if set, else a random secret kept in path so that tokens survive a
// restart of `make run`. No secret is ever written into the code or the repository.
func jwtSecret(path string) (string, error) {
	if s := os.Getenv("JWT_SECRET"); s != "" {
		return s, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return secret, os.WriteFile(path, []byte(secret+"\n"), 0o600)
}
