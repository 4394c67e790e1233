package deploy

import (
	"context"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// ourImages maps compose services to the binaries they run.
var ourImages = map[string]string{"config-server-go": "configserver", "user": "user", "greeter": "greeter", "gateway": "gateway", "consul-acl": "consul-acl"}

// loadCompose loads docker-compose.yml as docker compose would, every profile enabled, with
// stand-ins for the .env secrets.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	file := filepath.Join(repoRoot, "docker-compose.yml")
	details := types.ConfigDetails{
		WorkingDir:  repoRoot,
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: types.Mapping{"JWT_SECRET": "stand-in-jwt-secret-for-the-test-0000", "POSTGRES_PASSWORD": "stand-in",
			"INTERNAL_AUTH_PRIVATE_KEY": "stand-in", "INTERNAL_AUTH_PUBLIC_KEYS": "stand-in", "CONSUL_MANAGEMENT_TOKEN": "stand-in",
			"CONSUL_TOKEN_CONFIGSERVER": "stand-in", "CONSUL_TOKEN_USER": "stand-in", "CONSUL_TOKEN_GREETER": "stand-in",
			"CONSUL_TOKEN_GATEWAY": "stand-in", "CONSUL_TOKEN_READER": "stand-in"},
	}
	for _, name := range added {
		details.Environment["CONSUL_TOKEN_"+strings.ToUpper(name)] = "stand-in"
	}
	project, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("gomicro-stack", true)
		o.Profiles = []string{"*"}
	})
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return project
}

func TestComposeHasTheSystem(t *testing.T) {
	p := loadCompose(t)
	for _, name := range append([]string{"consul", "config-server", "config-server-go", "postgres", "user", "greeter", "gateway", "hystrix-dashboard", "jaeger"}, added...) {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
		if s.Restart == "" {
			t.Errorf("%s has no restart policy", name)
		}
		image, tag, tagged := strings.Cut(s.Image, ":")
		if !tagged || tag == "" || tag == "latest" || strings.Contains(tag, "${") {
			t.Errorf("%s: image %q is not pinned to a tag", name, s.Image)
		}
		if name == "consul" && s.Image != "hashicorp/consul:1.14.11" {
			t.Errorf("consul image %s, want the 1.14.11 agent the tests run", image)
		}
		for dep, d := range s.DependsOn {
			want := types.ServiceConditionHealthy
			if dep == "consul-acl" { // a one-shot job
				want = types.ServiceConditionCompletedSuccessfully
			}
			if d.Condition != want {
				t.Errorf("%s depends on %s without condition %s", name, dep, want)
			}
		}
		// Only the gateway faces the world; the rest is published to this machine alone.
		for _, port := range s.Ports {
			if name != "gateway" && port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on all interfaces; bind it to 127.0.0.1", name, port.Target)
			}
		}
	}
	for _, name := range append([]string{"user", "greeter", "gateway", "config-server-go"}, added...) {
		deps := p.Services[name].DependsOn
		if _, ok := deps["consul"]; !ok {
			t.Errorf("%s does not wait for consul", name)
		}
		if _, ok := deps["consul-acl"]; !ok {
			t.Errorf("%s does not wait for its Consul token (consul-acl)", name)
		}
		if value(p.Services[name].Environment, "REGISTRY_TOKEN") == "" {
			t.Errorf("%s has no Consul token (REGISTRY_TOKEN)", name)
		}
		// Spans go to Jaeger, which nothing waits for: tracing is never a dependency.
		if got := value(p.Services[name].Environment, "TRACING_ENDPOINT"); got != "jaeger:4318" {
			t.Errorf("%s: TRACING_ENDPOINT %q, want jaeger:4318", name, got)
		}
		if _, ok := deps["jaeger"]; ok {
			t.Errorf("%s waits for jaeger: tracing must not be a dependency", name)
		}
		if name == "config-server-go" {
			continue
		}
		if _, ok := deps["config-server"]; !ok {
			t.Errorf("%s does not wait for config-server", name)
		}
	}
	if c := strings.Join(p.Services["consul"].Command, " "); !strings.Contains(c, `default_policy = "deny"`) || !strings.Contains(c, "enabled = true") {
		t.Errorf("consul must run with ACLs on and default_policy deny: %s", c)
	}
	if _, ok := p.Services["user"].DependsOn["postgres"]; !ok {
		t.Error("user does not wait for postgres")
	}
	if r := p.Services["user"].Deploy; r == nil || r.Replicas == nil || *r.Replicas != 2 {
		t.Error("user must run 2 replicas")
	}
	// One config server or the other, by profile; the services wait for whichever runs and
	// find it by one name.
	if prof := p.Services["config-server-go"].Profiles; len(prof) != 1 || prof[0] != "go-config" {
		t.Errorf("our config server must be behind the go-config profile, has %v", prof)
	}
	if prof := p.Services["config-server"].Profiles; len(prof) != 1 || prof[0] != "spring-config" {
		t.Errorf("Spring's config server must be behind the spring-config profile, has %v", prof)
	}
	if n := p.Services["config-server-go"].Networks["default"]; n == nil || !slices.Contains(n.Aliases, "config-server") {
		t.Error("our config server must answer as config-server, the name the services ask for")
	}
	for _, name := range append([]string{"user", "greeter", "gateway"}, added...) {
		for _, server := range []string{"config-server", "config-server-go"} {
			if d, ok := p.Services[name].DependsOn[server]; !ok || d.Required {
				t.Errorf("%s must wait for %s when its profile runs it, and only then (required: false)", name, server)
			}
		}
	}
	example, err := os.ReadFile(filepath.Join(repoRoot, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), "\nCOMPOSE_PROFILES=spring-config\n") {
		t.Error(".env.example must select a config server (COMPOSE_PROFILES=spring-config)")
	}
	// busybox sh, Alpine's, has no /dev/tcp: only bash may use it in a healthcheck.
	for name, s := range p.Services {
		if s.HealthCheck == nil {
			continue
		}
		if hc := strings.Join(s.HealthCheck.Test, " "); strings.Contains(hc, "/dev/tcp") && !strings.HasPrefix(hc, "CMD bash -c") {
			t.Errorf("%s's healthcheck %q uses /dev/tcp without bash", name, hc)
		}
	}
	if env := p.Services["config-server"].Environment; value(env, "SPRING_PROFILES_ACTIVE") != "native" {
		t.Error("the Spring config server must run the native profile over ./config-repo")
	}
}

func value(env types.MappingWithEquals, key string) string {
	if v, ok := env[key]; ok && v != nil {
		return *v
	}
	return ""
}

// TestComposeMatchesTheBinaries: every variable set for our services is a setting the binary
// reads, and the published ports are the ports the settings make it listen on.
func TestComposeMatchesTheBinaries(t *testing.T) {
	p := loadCompose(t)
	images := maps.Clone(ourImages)
	for _, name := range added {
		images[name] = name
	}
	for name, binary := range images {
		s := p.Services[name]
		for key := range s.Environment {
			if _, ok := settings[binary][key]; !ok {
				t.Errorf("%s sets %s, which %s does not read", name, key, binary)
			}
		}
		if s.Build == nil || s.Build.Args["SERVICE"] == nil || *s.Build.Args["SERVICE"] != binary {
			t.Errorf("%s must build the Dockerfile with SERVICE=%s", name, binary)
		}
	}
	listens := func(service, key string) uint32 {
		address := value(p.Services[service].Environment, key)
		if address == "" {
			address = settings[ourImages[service]][key].Default
		}
		_, port, err := net.SplitHostPort(address)
		n, _ := strconv.Atoi(port)
		if err != nil || n == 0 {
			t.Fatalf("%s: %s=%q has no port", service, key, address)
		}
		return uint32(n)
	}
	for service, key := range map[string]string{"gateway": "HTTP_ADDRESS", "greeter": "BREAKER_STREAM_ADDRESS"} {
		port := listens(service, key)
		published := false
		for _, pc := range p.Services[service].Ports {
			published = published || pc.Target == port
		}
		if !published {
			t.Errorf("%s listens on %d (%s) but does not publish it: %+v", service, port, key, p.Services[service].Ports)
		}
		if hc := strings.Join(p.Services[service].HealthCheck.Test, " "); !strings.Contains(hc, ":"+strconv.Itoa(int(port))+"/") {
			t.Errorf("%s's healthcheck %q does not probe port %d", service, hc, port)
		}
	}
	if cs := value(p.Services["gateway"].Environment, "CONFIG_SERVER"); cs != "http://config-server:8888" {
		t.Errorf("CONFIG_SERVER is %q", cs)
	}
}

// TestComposeHoldsNoSecrets: secret settings come from .env, never from the file.
func TestComposeHoldsNoSecrets(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
		Anchors map[string]string `yaml:"x-service-env"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	secret := map[string]bool{"POSTGRES_PASSWORD": true, "DATABASE_DSN": true}
	for _, binary := range settings {
		for env, s := range binary {
			if s.Secret {
				secret[env] = true
			}
		}
	}
	check := func(where string, env map[string]string) {
		for key, v := range env {
			if secret[key] && !strings.Contains(v, "${") {
				t.Errorf("%s: %s is written in the file; take it from .env", where, key)
			}
		}
	}
	check("x-service-env", doc.Anchors)
	for name, s := range doc.Services {
		check(name, s.Environment)
	}
	example, err := os.ReadFile(filepath.Join(repoRoot, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(example), "\n") {
		key, v, _ := strings.Cut(line, "=")
		if secret[key] && v != "" {
			t.Errorf(".env.example gives %s a value", key)
		}
	}
}
