// Command consul-acl gives every binary of the stack its Consul token: with ACLs on and the
// default policy "deny", each may register only its own service names and read the catalog.
// It runs once after Consul starts (compose's consul-acl service) and again whenever it likes:
// it creates what is missing and updates what is there. With consul.every it keeps running and
// applies again that often, answering health checks (Kubernetes runs it so, as a Deployment: a
// new image or a changed token rolls it like any other, where a Job's pod template cannot
// change and kubectl apply of an upgrade would stop half done). The tokens' secrets are its
// input, so that each service already holds its token when Consul starts:
//
//	go run ./tools/keygen >> .env                       # makes the secrets
//	CONSUL_MANAGEMENT_TOKEN=… CONSUL_TOKEN_USER=… … consul-acl
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/boot"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/consulacl"
	"github.com/gomicro-stack/gomicro-stack/internal/httpserve"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
)

// Config is the tool's configuration; each field declares its setting (config.Declare).
type Config struct {
	Consul struct {
		Address           string        `mapstructure:"address" default:"127.0.0.1:8500" usage:"Consul agent HTTP address"`
		ManagementToken   string        `mapstructure:"management_token" secret:"true" usage:"the agent's management token (acl.tokens.initial_management)"`
		Wait              time.Duration `mapstructure:"wait" default:"1m" usage:"how long to wait for the agent and its ACL system"`
		Every             time.Duration `mapstructure:"every" usage:"keep running and apply again this often, healthy while the last apply worked (0: apply once and exit)"`
		TokenConfigserver string        `mapstructure:"token_configserver" secret:"true" usage:"token (a UUID) of configserver"`
		TokenUser         string        `mapstructure:"token_user" secret:"true" usage:"token (a UUID) of user"`
		TokenGreeter      string        `mapstructure:"token_greeter" secret:"true" usage:"token (a UUID) of greeter"`
		TokenGateway      string        `mapstructure:"token_gateway" secret:"true" usage:"token (a UUID) of gateway"`
		TokenReader       string        `mapstructure:"token_reader" secret:"true" usage:"token (a UUID) of reader"`
		AgentToken        string        `mapstructure:"agent_token" secret:"true" usage:"token (a UUID) that every agent of a multi-host cluster holds as acl.tokens.agent (deploy/consul); empty: none is made"`
	} `mapstructure:"consul"`
	Health struct {
		Address string `mapstructure:"address" default:"127.0.0.1:8080" usage:"with consul.every: where GET /health answers 200 while the last apply worked, else 503"`
	} `mapstructure:"health"`
}

func main() { boot.Main("consul-acl", run) }

func run(args []string) error {
	var cfg Config
	if _, err := config.Load(context.Background(), config.App{Name: "consul-acl", Usage: os.Stderr}, args, &cfg); err != nil {
		return err
	}
	c := cfg.Consul
	if c.ManagementToken == "" {
		return errors.New("consul.management_token is required (CONSUL_MANAGEMENT_TOKEN)")
	}
	secrets := map[string]string{"configserver": c.TokenConfigserver, "user": c.TokenUser,
		"greeter": c.TokenGreeter, "gateway": c.TokenGateway, "reader": c.TokenReader}
	// The services make service added take their tokens from CONSUL_TOKEN_<NAME>.
	for _, name := range names.Added {
		secrets[name] = os.Getenv("CONSUL_TOKEN_" + strings.ToUpper(name))
	}
	grants, err := consulacl.Grants(secrets)
	if err != nil {
		return err
	}
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Address, Token: c.ManagementToken})
	if err != nil {
		return err
	}
	// The agent may still be starting, electing a leader or setting up its ACLs.
	apply := func(wait time.Duration) error {
		deadline := time.Now().Add(wait)
		for {
			err := applyAgentToken(client, c.AgentToken)
			if err == nil {
				err = consulacl.Apply(client, grants)
			}
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(time.Second)
		}
	}
	if err := apply(c.Wait); err != nil {
		return fmt.Errorf("set up the tokens in Consul at %s: %w", c.Address, err)
	}
	agents := ""
	if c.AgentToken != "" {
		agents = " and the agents' token"
	}
	log.Printf("Consul at %s: %d tokens%s in place, default policy deny", c.Address, len(grants), agents)
	if c.Every <= 0 {
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var healthy atomic.Bool
	healthy.Store(true)
	health := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"DOWN"}`))
			return
		}
		w.Write([]byte(`{"status":"UP"}`))
	})
	if _, err := httpserve.Serve(ctx, "health", cfg.Health.Address, health); err != nil {
		return err
	}
	tick := time.NewTicker(c.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			err := apply(0)
			if err != nil {
				log.Printf("Consul at %s: apply the tokens: %v (again in %s)", c.Address, err, c.Every)
			} else if !healthy.Load() {
				log.Printf("Consul at %s: %d tokens in place again", c.Address, len(grants))
			}
			healthy.Store(err == nil)
		}
	}
}

// applyAgentToken makes the token the agents of a multi-host cluster are configured with, when
// one is given; a single dev agent needs none.
func applyAgentToken(client *consulapi.Client, secret string) error {
	if secret == "" {
		return nil
	}
	return consulacl.ApplyAgentToken(client, secret)
}
