package config

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/server"
)

type testConfig struct {
	Address   string `mapstructure:"address"`
	Greetings struct {
		String string `mapstructure:"string"`
	} `mapstructure:"greetings"`
	TTL    time.Duration `mapstructure:"ttl"`
	Routes []string      `mapstructure:"routes"`
	Limit  int           `mapstructure:"limit"`
	Secret string        `mapstructure:"secret"`
}

var testSettings = []Setting{
	{Key: "address", Default: ":8080"},
	{Key: "greetings.string", Default: "hi", Refreshable: true},
	{Key: "ttl", Default: 10 * time.Second, Refreshable: true},
	{Key: "routes", Default: []string{"/a", "/b"}},
	{Key: "limit", Default: 5},
	{Key: "secret", Default: "", Secret: true},
	{Key: RegistryKey, Default: ""},
}

func localApp() App { return App{Name: "test", Settings: testSettings, Usage: io.Discard} }

func load(t *testing.T, app App, args ...string) (testConfig, *Source, error) {
	t.Helper()
	var got testConfig
	src, err := Load(context.Background(), app, args, &got)
	return got, src, err
}

func setenv(t *testing.T, env map[string]string) {
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestLocalPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want testConfig
	}{
		{"defaults", nil, nil, testConfig{Address: ":8080", TTL: 10 * time.Second, Routes: []string{"/a", "/b"}, Limit: 5}},
		{"environment over default", map[string]string{"GREETINGS_STRING": "from env", "TTL": "3s", "ROUTES": "/x,/y", "LIMIT": "7"}, nil,
			testConfig{Address: ":8080", TTL: 3 * time.Second, Routes: []string{"/x", "/y"}, Limit: 7}},
		{"flag over environment", map[string]string{"GREETINGS_STRING": "from env"}, []string{"--greetings_string", "from flag", "--ttl=1m", "--routes=/z"},
			testConfig{Address: ":8080", TTL: time.Minute, Routes: []string{"/z"}, Limit: 5}},
		{"placeholders resolve against the environment and other settings", map[string]string{"TEST_SECRET": "s3cret", "ADDRESS": "${HOST_FOR_TEST:localhost}:9"},
			[]string{"--secret=${TEST_SECRET}", "--greetings_string=at ${address}"},
			testConfig{Address: "localhost:9", TTL: 10 * time.Second, Routes: []string{"/a", "/b"}, Limit: 5, Secret: "s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, tc.env)
			got, _, err := load(t, localApp(), tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Greetings.String = map[string]string{"defaults": "hi", "environment over default": "from env", "flag over environment": "from flag",
				"placeholders resolve against the environment and other settings": "at localhost:9"}[tc.name]
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		args       []string
		env        map[string]string
	}{
		{"unknown flag", "unknown flag", []string{"--nope"}, nil},
		{"stray argument", "unexpected argument", []string{"extra"}, nil},
		{"bad duration flag", "invalid argument", []string{"--ttl", "soon"}, nil},
		{"bad duration in environment", "decode settings", nil, map[string]string{"TTL": "soon"}},
		{"unresolvable placeholder", "setting secret: could not resolve placeholder 'NOT_SET_ANYWHERE'", []string{"--secret=${NOT_SET_ANYWHERE}"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, tc.env)
			if _, _, err := load(t, localApp(), tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, _, err := load(t, localApp(), "--help"); err != ErrHelp {
		t.Fatalf("--help: %v", err)
	}
}

func TestNames(t *testing.T) {
	s := Setting{Key: "greetings.string"}
	if s.Flag() != "greetings_string" || s.Env() != "GREETINGS_STRING" {
		t.Fatal(s.Flag(), s.Env())
	}
	if d := (Retry{InitialInterval: time.Second, Multiplier: 1.1, MaxInterval: 2 * time.Second}); d.Wait(1) != time.Second ||
		d.Wait(2) != 1100*time.Millisecond || d.Wait(3) != 1210*time.Millisecond || d.Wait(9) != 2*time.Second {
		t.Fatal("Spring's back-off: 1s, 1.1s, 1.21s ... at most 2s")
	}
}

// configServer runs our config server over a folder with files.
func configServer(t *testing.T, files map[string]string, o server.Options) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	r, err := repo.Open(repo.Config{URI: dir})
	if err != nil {
		t.Fatal(err)
	}
	o.Repo = r
	srv := httptest.NewServer(server.New(o))
	t.Cleanup(srv.Close)
	return srv, dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func remoteApp() App {
	return App{Name: "svc", Settings: testSettings, Remote: true, Usage: io.Discard}
}

func TestRemotePrecedence(t *testing.T) {
	srv, _ := configServer(t, map[string]string{
		"application.yml":         "greetings:\n  string: shared\nlimit: 1\nttl: 2500\n",
		"svc.yml":                 "greetings:\n  string: svc\nroutes:\n  - /from\n  - /server\naddress: ${ADDR_FOR_TEST:remote:1}\n",
		"svc-test.yml":            "greetings:\n  string: svc-test\n",
		"svc-other.yml":           "limit: 2\n",
		"svc-secret.yml":          "secret: ${SECRET_FOR_TEST}\n",
		"svc-missing.yml":         "secret: ${NOT_SET_ANYWHERE}\n",
		"svc-conflict.yml":        "limit: 3\n",
		"svc-conflict.properties": "limit.deeper=4\n",
	}, server.Options{})
	base := []string{"--config_server", srv.URL}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want func(*testConfig)
		err  string
	}{
		{name: "server over defaults", args: base, want: func(c *testConfig) {
			c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL = "svc", 1, []string{"/from", "/server"}, "remote:1", 2500*time.Millisecond
		}},
		{name: "profile", args: append(base, "--profile", "test"), want: func(c *testConfig) {
			c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL = "svc-test", 1, []string{"/from", "/server"}, "remote:1", 2500*time.Millisecond
		}},
		{name: "later profile wins", args: append(base, "--profile", "test,other"), want: func(c *testConfig) {
			c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL = "svc-test", 2, []string{"/from", "/server"}, "remote:1", 2500*time.Millisecond
		}},
		{name: "profile from the environment, environment over server", args: base, env: map[string]string{"PROFILE": "test", "GREETINGS_STRING": "env", "ADDR_FOR_TEST": "placeholder:2"},
			want: func(c *testConfig) {
				c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL = "env", 1, []string{"/from", "/server"}, "placeholder:2", 2500*time.Millisecond
			}},
		{name: "flag over environment", args: append(base, "--greetings_string", "flag", "--limit", "9"), env: map[string]string{"GREETINGS_STRING": "env"},
			want: func(c *testConfig) {
				c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL = "flag", 9, []string{"/from", "/server"}, "remote:1", 2500*time.Millisecond
			}},
		{name: "secret through a placeholder", args: append(base, "--profile", "secret"), env: map[string]string{"SECRET_FOR_TEST": "s3"},
			want: func(c *testConfig) {
				c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL, c.Secret = "svc", 1, []string{"/from", "/server"}, "remote:1", 2500*time.Millisecond, "s3"
			}},
		{name: "unresolvable placeholder", args: append(base, "--profile", "missing"), err: "setting secret: could not resolve placeholder 'NOT_SET_ANYWHERE'"},
		{name: "a value beside a section, as Spring allows", args: append(base, "--profile", "conflict"), want: func(c *testConfig) {
			c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL = "svc", 3, []string{"/from", "/server"}, "remote:1", 2500*time.Millisecond
		}},
		{name: "disabled", args: append(base, "--config_enabled=false"), want: func(c *testConfig) {
			c.Greetings.String, c.Limit, c.Routes, c.Address, c.TTL = "hi", 5, []string{"/a", "/b"}, ":8080", 10*time.Second
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, tc.env)
			got, _, err := load(t, remoteApp(), tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want testConfig
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestSpringFixtures reads the Environments Spring Cloud Config documents into the values
// Spring's client binds.
func TestSpringFixtures(t *testing.T) {
	type springConfig struct {
		Foo     string `mapstructure:"foo"`
		Bar     string `mapstructure:"bar"`
		Message string `mapstructure:"democonfigclient.message"`
		Info    struct {
			Description string `mapstructure:"description"`
			URL         string `mapstructure:"url"`
		} `mapstructure:"info"`
		Eureka struct {
			Client struct {
				ServiceURL struct {
					DefaultZone string `mapstructure:"defaultzone"`
				} `mapstructure:"serviceurl"`
			} `mapstructure:"client"`
		} `mapstructure:"eureka"`
		My struct {
			Servers []string      `mapstructure:"servers"`
			Timeout time.Duration `mapstructure:"timeout"`
			Retries int           `mapstructure:"retries"`
			Enabled bool          `mapstructure:"enabled"`
		} `mapstructure:"my"`
	}
	settings := []Setting{
		{Key: "foo", Default: ""}, {Key: "bar", Default: ""}, {Key: "info.description", Default: ""}, {Key: "info.url", Default: ""},
		{Key: "eureka.client.serviceurl.defaultzone", Default: ""}, {Key: "my.servers", Default: []string{}},
		{Key: "my.timeout", Default: time.Duration(0)}, {Key: "my.retries", Default: 0}, {Key: "my.enabled", Default: false},
	}
	fixtures := "../cloudconfig/testdata/spring/"
	for _, tc := range []struct {
		fixture, application, profile string
		check                         func(c springConfig) bool
	}{
		{"foo-development.json", "foo", "development", func(c springConfig) bool {
			return c.Foo == "from foo development" && c.Bar == "spam" && c.Info.Description == "Spring Cloud Samples" &&
				c.Eureka.Client.ServiceURL.DefaultZone == "http://localhost:8761/eureka/"
		}},
		{"foo-development,db.json", "foo", "development,db", func(c springConfig) bool {
			return c.Foo == "from foo development" && c.Info.URL == "https://github.com/spring-cloud-samples"
		}},
		{"bar-prod.json", "bar", "prod", func(c springConfig) bool {
			return c.Info.Description == "Spring Cloud Samples in production" && reflect.DeepEqual(c.My.Servers, []string{"dev.example.com", "another.example.com"}) &&
				c.My.Timeout == 30*time.Second && c.My.Retries == 3 && c.My.Enabled
		}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			body, err := os.ReadFile(fixtures + tc.fixture)
			if err != nil {
				t.Fatal(err)
			}
			var asked string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked = r.URL.Path
				w.Header().Set("Content-Type", "application/json")
				w.Write(body)
			}))
			defer srv.Close()
			var got springConfig
			app := App{Name: tc.application, Settings: settings, Remote: true, Usage: io.Discard}
			if _, err := Load(context.Background(), app, []string{"--config_server", srv.URL, "--profile", tc.profile}, &got); err != nil {
				t.Fatal(err)
			}
			if asked != "/"+tc.application+"/"+tc.profile || !tc.check(got) {
				t.Fatalf("asked %s, got %+v", asked, got)
			}
		})
	}
}

// countingServer answers status to every request and counts them.
func countingServer(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, `{"code":503,"message":"busy"}`, status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestFailFast(t *testing.T) {
	fast := []string{"--config_retry_initial_interval=10ms", "--config_retry_multiplier=2", "--config_retry_max_interval=20ms", "--config_retry_max_attempts=4"}
	unavailable, attempts := countingServer(t, 503)
	notFound, notFoundAttempts := countingServer(t, 404)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	_, _, err := load(t, remoteApp(), append(fast, "--config_fail_fast", "--config_server", unavailable.URL)...)
	if err == nil || !strings.Contains(err.Error(), "config server "+unavailable.URL+"/svc/default: HTTP 503 busy (gave up after 4 attempts") || attempts.Load() != 4 {
		t.Fatalf("503: %v after %d attempts", err, attempts.Load())
	}
	_, _, err = load(t, remoteApp(), append(fast, "--config_fail_fast", "--config_server", closed.URL)...)
	if err == nil || !strings.Contains(err.Error(), closed.URL) || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("down: %v", err)
	}
	// A 4xx will not change by asking again.
	_, _, err = load(t, remoteApp(), append(fast, "--config_fail_fast", "--config_server", notFound.URL)...)
	if err == nil || notFoundAttempts.Load() != 1 {
		t.Fatalf("404: %v after %d attempts", err, notFoundAttempts.Load())
	}

	// Without fail-fast: one attempt, then the local settings.
	attempts.Store(0)
	got, _, err := load(t, remoteApp(), append(fast, "--config_server", unavailable.URL, "--limit", "8")...)
	if err != nil || got.Greetings.String != "hi" || got.Limit != 8 || attempts.Load() != 1 {
		t.Fatalf("not fail-fast: %+v %v after %d attempts", got, err, attempts.Load())
	}
}

func TestBootstrapValidation(t *testing.T) {
	for _, tc := range []struct{ args []string }{
		{[]string{"--config_server", "ftp://x"}},
		{[]string{"--config_server", "http://x", "--profile", "../etc"}},
		{[]string{"--config_server", "http://x", "--profile", ","}},
		{[]string{"--config_server", "http://x", "--config_name", "a/b"}},
		{[]string{"--config_server", "http://x", "--config_label", "a/../b"}},
		{[]string{"--config_server", "http://x", "--config_retry_max_attempts", "0"}},
		{[]string{"--config_server", ""}}, // and no registry address to discover it with
	} {
		if _, _, err := load(t, remoteApp(), tc.args...); err == nil {
			t.Errorf("%q: want an error", tc.args)
		}
	}
}

func TestBasicAuthAndLabels(t *testing.T) {
	srv, _ := configServer(t, map[string]string{"svc.yml": "limit: 4\n"}, server.Options{Username: "u", Password: "p"})
	if _, _, err := load(t, remoteApp(), "--config_server", srv.URL, "--config_fail_fast"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("without credentials: %v", err)
	}
	got, _, err := load(t, remoteApp(), "--config_server", srv.URL, "--config_username", "u", "--config_password", "p")
	if err != nil || got.Limit != 4 {
		t.Fatalf("with credentials: %+v %v", got, err)
	}
}

func TestUndecryptableValuesStopTheBoot(t *testing.T) {
	srv, _ := configServer(t, map[string]string{"svc.yml": "secret: '{cipher}abcdef'\n"}, server.Options{})
	if _, _, err := load(t, remoteApp(), "--config_server", srv.URL); err == nil || !strings.Contains(err.Error(), "could not decrypt secret") {
		t.Fatalf("got %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	cfgSrv, _ := configServer(t, map[string]string{"svc.yml": "limit: 6\n"}, server.Options{})
	host, port, _ := strings.Cut(strings.TrimPrefix(cfgSrv.URL, "http://"), ":")
	var instances atomic.Value
	instances.Store(`[{"Service":{"Service":"config-server","Address":"` + host + `","Port":` + port + `,"Meta":{"scheme":"http"}}}]`)
	// A stand-in for Consul's health endpoint; the e2e tests discover through a real agent.
	consul := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/health/service/config-server" || r.URL.Query().Get("passing") != "1" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(instances.Load().(string)))
	}))
	defer consul.Close()
	addr := strings.TrimPrefix(consul.URL, "http://")
	got, _, err := load(t, remoteApp(), "--registry_address", addr)
	if err != nil || got.Limit != 6 {
		t.Fatalf("discovered: %+v %v", got, err)
	}
	instances.Store(`[]`)
	_, _, err = load(t, remoteApp(), "--registry_address", addr, "--config_fail_fast", "--config_retry_max_attempts=1")
	if err == nil || !strings.Contains(err.Error(), "no healthy instance") {
		t.Fatalf("none registered: %v", err)
	}
}

func TestRefresh(t *testing.T) {
	srv, dir := configServer(t, map[string]string{"svc.yml": "greetings.string: one\nlimit: 1\nttl: 1s\n"}, server.Options{})
	got, src, err := load(t, remoteApp(), "--config_server", srv.URL)
	if err != nil || got.Greetings.String != "one" {
		t.Fatalf("%+v %v", got, err)
	}
	var applied []testConfig
	apply := func(s *Source) error {
		var c testConfig
		if err := s.Decode(&c); err != nil {
			return err
		}
		if c.TTL > time.Hour {
			return errors.New("ttl too long")
		}
		applied = append(applied, c)
		return nil
	}
	ctx := context.Background()

	if err := src.refresh(ctx, apply); err != nil || len(applied) != 0 {
		t.Fatalf("nothing changed: %v, applied %d", err, len(applied))
	}
	writeFiles(t, dir, map[string]string{"svc.yml": "greetings.string: two\nlimit: 2\nttl: 1s\n"})
	if err := src.refresh(ctx, apply); err != nil || len(applied) != 1 || applied[0].Greetings.String != "two" {
		t.Fatalf("refreshable change: %v, applied %+v", err, applied)
	}
	if applied[0].Limit != 1 || src.String("limit") != "1" {
		t.Fatalf("limit is not refreshable and must keep its start value, got %d", applied[0].Limit)
	}
	if src.String("greetings.string") != "two" {
		t.Fatal("String must see the refreshed value")
	}

	writeFiles(t, dir, map[string]string{"svc.yml": "greetings.string: three\nlimit: 2\nttl: 2h\n"})
	if err := src.refresh(ctx, apply); err == nil || !strings.Contains(err.Error(), "ttl too long") || src.String("greetings.string") != "two" {
		t.Fatalf("a rejected change must roll back: %v, greeting %s", err, src.String("greetings.string"))
	}
	writeFiles(t, dir, map[string]string{"svc.yml": "greetings.string: ${NOT_SET_ANYWHERE}\n"})
	if err := src.refresh(ctx, apply); err == nil || src.String("greetings.string") != "two" {
		t.Fatalf("an unresolvable refresh must keep the settings: %v", err)
	}

	// Watch applies a change within the refresh interval.
	writeFiles(t, dir, map[string]string{"svc.yml": "greetings.string: four\nttl: 1s\n"})
	src.client.boot.Config.RefreshInterval = 10 * time.Millisecond
	watchCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { src.Watch(watchCtx, func(s *Source) error { stop(); return nil }); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		stop()
		t.Fatal("Watch did not apply the change")
	}
	if src.String("greetings.string") != "four" {
		t.Fatalf("after Watch: %s", src.String("greetings.string"))
	}
}

// BenchmarkConfigMerge is a refresh's work: merge an Environment's property sources and layer
// them over the flags, environment and defaults.
func BenchmarkConfigMerge(b *testing.B) {
	log.SetOutput(io.Discard) // the load logs a line, which would break the benchmark's output
	defer log.SetOutput(os.Stderr)
	srv, _ := configServerTB(b, map[string]string{
		"application.yml": "greetings:\n  string: shared\nlimit: 1\nttl: 2500\n",
		"svc.yml":         "greetings:\n  string: svc\nroutes:\n  - /a\n  - /b\n",
		"svc-dev.yml":     "limit: 3\n",
	})
	var got testConfig
	src, err := Load(context.Background(), App{Name: "svc", Settings: testSettings, Remote: true, Usage: io.Discard},
		[]string{"--config_server", srv.URL, "--profile", "dev"}, &got)
	if err != nil {
		b.Fatal(err)
	}
	env, err := src.client.fetchOnce(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := src.buildFrom(env)
		if err != nil || v.GetInt("limit") != 3 {
			b.Fatal(err)
		}
	}
}

func configServerTB(tb testing.TB, files map[string]string) (*httptest.Server, string) {
	dir := tb.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	r, err := repo.Open(repo.Config{URI: dir})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{Repo: r}))
	tb.Cleanup(srv.Close)
	return srv, dir
}
