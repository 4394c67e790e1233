package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
)

// RegistryKey is the setting that names the Consul agent used to discover the config server.
const RegistryKey = "registry.address"

// Bootstrap are the settings that say where a binary's configuration comes from. Registry is
// declared by the binary (microsvc.Registry), which reaches Consul anyway.
type Bootstrap struct {
	Profile  string `mapstructure:"profile" default:"default" usage:"configuration profiles, comma-separated; a later one wins"`
	Registry struct {
		Address string `mapstructure:"address"`
		Token   string `mapstructure:"token"`
	} `mapstructure:"registry"`
	Config struct {
		Server          string        `mapstructure:"server" usage:"config server URL; empty: discover config.service_id in Consul at registry.address"`
		Label           string        `mapstructure:"label" usage:"branch, tag or commit of the config repository (empty: the server's default)"`
		Name            string        `mapstructure:"name" usage:"application name asked of the config server"`
		Enabled         bool          `mapstructure:"enabled" default:"true" usage:"boot from the config server (false: flags, environment and defaults only)"`
		FailFast        bool          `mapstructure:"fail_fast" usage:"exit when the config server cannot be reached, after the retries, instead of starting on defaults"`
		ServiceID       string        `mapstructure:"service_id" usage:"the config server's name in Consul"`
		Timeout         time.Duration `mapstructure:"timeout" default:"5s" usage:"time limit of one request to the config server"`
		RefreshInterval time.Duration `mapstructure:"refresh_interval" default:"30s" usage:"how often refreshable settings are polled (0: never)"`
		Username        string        `mapstructure:"username" usage:"basic auth user for the config server"`
		Password        string        `mapstructure:"password" secret:"true" usage:"basic auth password for the config server"`
		Retry           Retry         `mapstructure:"retry"`
	} `mapstructure:"config"`
}

// Retry is the back-off between attempts to reach the config server when fail-fast is on,
// with Spring Cloud Config's defaults: 1 s, ×1.1 each time, at most 2 s, 6 attempts.
type Retry struct {
	InitialInterval time.Duration `mapstructure:"initial_interval" default:"1s" usage:"first wait between attempts (fail-fast only)"`
	Multiplier      float64       `mapstructure:"multiplier" default:"1.1" usage:"factor of each next wait"`
	MaxInterval     time.Duration `mapstructure:"max_interval" default:"2s" usage:"longest wait between attempts"`
	MaxAttempts     int           `mapstructure:"max_attempts" default:"6" usage:"attempts before giving up (fail-fast only)"`
}

// Wait is how long to wait after the attempt-th failed attempt (1-based).
func (r Retry) Wait(attempt int) time.Duration {
	d := float64(r.InitialInterval)
	for i := 1; i < attempt; i++ {
		d *= r.Multiplier
	}
	return min(time.Duration(d), r.MaxInterval)
}

// BootstrapSettings are the settings of every binary that boots from the config server.
func BootstrapSettings(application string) []Setting {
	settings, err := Declare(Bootstrap{}, map[string]any{"config.name": application, "config.service_id": names.ConfigServer})
	if err != nil {
		panic(err) // Bootstrap's tags are wrong: a test catches it
	}
	return settings
}

var (
	nameRule  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	labelRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$`)
)

// Validate reports bootstrap settings that cannot work.
func (b Bootstrap) Validate() error {
	c := b.Config
	profiles := cloudconfig.SplitProfiles(b.Profile)
	for _, p := range profiles {
		if !nameRule.MatchString(p) || strings.Contains(p, "..") {
			return fmt.Errorf("profile %q: use letters, digits, _ . and -", p)
		}
	}
	switch {
	case len(profiles) == 0:
		return errors.New("profile must name at least one profile")
	case !nameRule.MatchString(c.Name) || strings.Contains(c.Name, ".."):
		return fmt.Errorf("config.name %q: use letters, digits, _ . and -", c.Name)
	case c.Label != "" && (!labelRule.MatchString(c.Label) || strings.Contains(c.Label, "..")):
		return fmt.Errorf("config.label %q: use letters, digits, _ . - and /", c.Label)
	case c.Server == "" && b.Registry.Address == "":
		return fmt.Errorf("config.server is empty and there is no %s to discover %s in", RegistryKey, c.ServiceID)
	case c.Timeout <= 0:
		return errors.New("config.timeout must be positive")
	case c.Retry.MaxAttempts < 1 || c.Retry.InitialInterval < 0 || c.Retry.Multiplier < 1 || c.Retry.MaxInterval < c.Retry.InitialInterval:
		return fmt.Errorf("config.retry: want max_attempts ≥ 1, multiplier ≥ 1 and max_interval ≥ initial_interval, got %+v", c.Retry)
	}
	if c.Server != "" {
		u, err := url.Parse(c.Server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config.server %q: want an http:// or https:// URL", c.Server)
		}
	}
	return nil
}

// Client fetches a binary's Environment from a Spring Cloud Config server.
type Client struct {
	boot Bootstrap
	http *http.Client
	// consul finds the config server when config.server is empty; made once, so that every
	// refresh reuses its connections.
	consul    *api.Client
	consulErr error

	mu      sync.Mutex
	lastURL string
}

// NewClient returns a client for the bootstrap settings b.
func NewClient(b Bootstrap) *Client {
	c := &Client{boot: b, http: &http.Client{Timeout: b.Config.Timeout}}
	if b.Config.Server == "" {
		c.consul, c.consulErr = api.NewClient(&api.Config{Address: b.Registry.Address, Token: b.Registry.Token, HttpClient: c.http})
	}
	return c
}

// LastURL is the URL of the last request.
func (c *Client) LastURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastURL
}

// Fetch gets the Environment; with fail-fast it tries config.retry.max_attempts times, waiting
// in between as config.retry says. The error names the URL (or the discovery) that failed.
func (c *Client) Fetch(ctx context.Context) (cloudconfig.Environment, error) {
	attempts := 1
	if c.boot.Config.FailFast {
		attempts = c.boot.Config.Retry.MaxAttempts
	}
	began := time.Now()
	for attempt := 1; ; attempt++ {
		env, err := c.fetchOnce(ctx)
		var final *permanentError
		if err == nil || errors.As(err, &final) {
			return env, err
		}
		if attempt >= attempts {
			return env, fmt.Errorf("%w (gave up after %d attempts in %.1fs)", err, attempt, time.Since(began).Seconds())
		}
		select {
		case <-ctx.Done():
			return env, ctx.Err()
		case <-time.After(c.boot.Config.Retry.Wait(attempt)):
		}
	}
}

// permanentError is an answer that retrying cannot change (a 4xx: wrong label, bad name).
type permanentError struct{ error }

func (c *Client) fetchOnce(ctx context.Context) (cloudconfig.Environment, error) {
	base, err := c.serverURL()
	if err != nil {
		return cloudconfig.Environment{}, err
	}
	// Validate has checked that the names need no escaping (the server refuses escapes).
	target := strings.TrimSuffix(base, "/") + "/" + c.boot.Config.Name + "/" + strings.Join(cloudconfig.SplitProfiles(c.boot.Profile), ",")
	if label := c.boot.Config.Label; label != "" {
		target += "/" + strings.ReplaceAll(label, "/", "(_)")
	}
	c.mu.Lock()
	c.lastURL = target
	c.mu.Unlock()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("config server %s: %s", target, fmt.Sprintf(format, args...))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return cloudconfig.Environment{}, &permanentError{fail("%v", err)}
	}
	req.Header.Set("Accept", "application/json")
	if c.boot.Config.Username != "" || c.boot.Config.Password != "" {
		req.SetBasicAuth(c.boot.Config.Username, c.boot.Config.Password)
	}
	rsp, err := c.http.Do(req)
	if err != nil {
		return cloudconfig.Environment{}, fail("%v", unwrapURLError(err))
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(rsp.Body, 16<<20))
	if err != nil {
		return cloudconfig.Environment{}, fail("read answer: %v", err)
	}
	if rsp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		json.Unmarshal(body, &e)
		err := fail("HTTP %d %s", rsp.StatusCode, e.Message)
		if rsp.StatusCode >= 400 && rsp.StatusCode < 500 && rsp.StatusCode != http.StatusTooManyRequests && rsp.StatusCode != http.StatusRequestTimeout {
			return cloudconfig.Environment{}, &permanentError{err}
		}
		return cloudconfig.Environment{}, err
	}
	var env cloudconfig.Environment
	if err := json.Unmarshal(body, &env); err != nil {
		return cloudconfig.Environment{}, fail("not an Environment document: %v", err)
	}
	return env, nil
}

func unwrapURLError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

// serverURL is config.server, or a healthy config server instance found in Consul.
func (c *Client) serverURL() (string, error) {
	if c.boot.Config.Server != "" {
		return c.boot.Config.Server, nil
	}
	if c.consulErr != nil {
		return "", fmt.Errorf("discover %s: %w", c.boot.Config.ServiceID, c.consulErr)
	}
	entries, _, err := c.consul.Health().Service(c.boot.Config.ServiceID, "", true, nil)
	if err != nil {
		return "", fmt.Errorf("discover %s in Consul at %s: %w", c.boot.Config.ServiceID, c.boot.Registry.Address, err)
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("discover %s in Consul at %s: no healthy instance", c.boot.Config.ServiceID, c.boot.Registry.Address)
	}
	s := entries[rand.IntN(len(entries))].Service
	scheme := s.Meta["scheme"]
	if scheme == "" {
		scheme = "http"
	}
	host := s.Address
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, host, s.Port), nil
}

// fingerprint identifies an Environment's content: the version alone is not enough, since a
// folder has none and an uncommitted edit has the same one.
func fingerprint(env cloudconfig.Environment) string {
	sources, _ := json.Marshal(env.PropertySources)
	sum := sha256.Sum256(sources)
	version := ""
	if env.Version != nil {
		version = *env.Version
	}
	return version + "/" + hex.EncodeToString(sum[:])
}
