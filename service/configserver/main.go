// Command configserver serves config-repo/ (or a git repository) over Spring Cloud Config's REST
// protocol on :8888, registered in Consul as config-server with an HTTP health check. Every
// other binary boots from it.
package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/boot"
	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/registration"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/cipher"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/server"
)

// ServiceName is the config server's name in Consul.
const ServiceName = names.ConfigServer

// Config is the config server's configuration: flags, environment and defaults only; each
// field declares its setting (config.Declare).
type Config struct {
	HTTP struct {
		Address   string `mapstructure:"address" default:"127.0.0.1:8888" usage:"HTTP listen address (containers set 0.0.0.0:8888)"`
		Advertise string `mapstructure:"advertise" usage:"host:port registered in Consul (empty: the listen address, or this host's private IP)"`
	} `mapstructure:"http"`
	Registry struct {
		Address string `mapstructure:"address" default:"127.0.0.1:8500" usage:"Consul agent to register in (empty: do not register)"`
		Token   string `mapstructure:"token" secret:"true" usage:"Consul ACL token (empty: CONSUL_HTTP_TOKEN)"`
	} `mapstructure:"registry"`
	Repo struct {
		URI          string        `mapstructure:"uri" default:"config-repo" usage:"folder, local git repository or git URL with the configuration files"`
		Backend      string        `mapstructure:"backend" default:"auto" usage:"folder, git or auto (git for URLs and folders holding .git)"`
		DefaultLabel string        `mapstructure:"default_label" usage:"git label served when a request names none (empty: HEAD)"`
		SearchPath   string        `mapstructure:"search_path" usage:"folder inside the repository that holds the files"`
		RefreshRate  time.Duration `mapstructure:"refresh_rate" usage:"how long a remote clone is served before fetching again (0: every request)"`
		Username     string        `mapstructure:"username" usage:"user for an https git remote"`
		Password     string        `mapstructure:"password" secret:"true" usage:"password or token for an https git remote"`
	} `mapstructure:"repo"`
	Encrypt struct {
		Key  string `mapstructure:"key" secret:"true" usage:"symmetric key for {cipher} values and /encrypt, /decrypt"`
		Salt string `mapstructure:"salt" usage:"hex salt of the key derivation (Spring's default)"`
	} `mapstructure:"encrypt"`
	Security struct {
		User struct {
			Name     string `mapstructure:"name" default:"user" usage:"basic auth user"`
			Password string `mapstructure:"password" secret:"true" usage:"basic auth password (empty: no auth); /actuator/health stays open"`
		} `mapstructure:"user"`
	} `mapstructure:"security"`
	AllowInsecure bool           `mapstructure:"allow_insecure" usage:"start with encrypt.key but no security.user.password (anyone who reaches the server can then decrypt)"`
	Tracing       tracing.Config `mapstructure:"tracing"`
}

// TracingConfig is where the server's tracing settings are (boot.Settings).
func (c Config) TracingConfig() tracing.Config { return c.Tracing }

// defaults: the salt is Spring's, which the cipher package names.
var defaults = map[string]any{"encrypt.salt": cipher.DefaultSalt}

// Validate refuses settings that would expose secrets: with a key, /decrypt decrypts anything
// and decrypted values are served, so the server must ask who is calling.
func (c Config) Validate() error {
	if c.Encrypt.Key != "" && c.Security.User.Password == "" && !c.AllowInsecure {
		return errors.New("ENCRYPT_KEY is set but SECURITY_USER_PASSWORD is not: anyone who reaches the server could decrypt every secret; set a password, or pass --allow_insecure")
	}
	return nil
}

func main() { boot.Main("configserver", run) }

func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	binary, err := boot.Start(ctx, config.App{Name: "configserver", Defaults: defaults}, args, tracing.Edge, Config.Validate)
	if err != nil {
		return err
	}
	defer binary.Stop()
	cfg := binary.Config
	repository, err := repo.Open(repo.Config{
		URI: cfg.Repo.URI, Backend: cfg.Repo.Backend, DefaultLabel: cfg.Repo.DefaultLabel, SearchPath: cfg.Repo.SearchPath,
		RefreshRate: cfg.Repo.RefreshRate, Username: cfg.Repo.Username, Password: cfg.Repo.Password,
	})
	if err != nil {
		return err
	}
	var encryptor *cipher.TextEncryptor
	if cfg.Encrypt.Key != "" {
		if encryptor, err = cipher.New(cfg.Encrypt.Key, cfg.Encrypt.Salt); err != nil {
			return err
		}
	}
	listener, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		return err
	}
	handler := tracing.HTTPMiddleware(tracing.MethodName)(server.New(server.Options{Repo: repository, Cipher: encryptor,
		Username: cfg.Security.User.Name, Password: cfg.Security.User.Password}))
	httpServer := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(listener) }()
	log.Printf("serving %s on %s (encryption %s)", repository.Location(), listener.Addr(), map[bool]string{true: "on", false: "off"}[encryptor != nil])

	registered := make(chan error, 1)
	if cfg.Registry.Address != "" {
		advertised, err := registration.Advertise(cfg.HTTP.Advertise, listener.Addr().String())
		if err != nil {
			return err
		}
		go func() {
			registered <- registration.Keep(ctx, registration.Config{
				ConsulAddress: cfg.Registry.Address, ConsulToken: cfg.Registry.Token, Name: ServiceName, Address: advertised,
				HealthPath: "/actuator/health", CheckInterval: 2 * time.Second,
				Healthy: func() bool { _, err := repository.Snapshot(""); return err == nil },
			}, 5*time.Second)
		}()
	} else {
		registered <- nil
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Leave Consul first, so that nobody is sent here while the server drains.
	regErr := <-registered
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(regErr, httpServer.Shutdown(shutdownCtx))
}
