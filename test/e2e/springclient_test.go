package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo/repotest"
)

// cloudConfigClient is the npm client the test loads configuration with: written by others,
// it percent-encodes the path (dev%2Cprod), as Spring's own server expects.
const cloudConfigClient = "cloud-config-client@1.6.2"

// TestThirdPartyConfigClient: npm's cloud-config-client loads from the built config server, on
// a git repository, what Spring would serve it: two profiles (the later wins), a label naming
// another branch, and two applications (the later wins over the earlier, both over
// application.yml). (The client merges the property sources itself, key by key, so list
// elements of less specific files show through; the server's merged documents take lists whole.)
func TestThirdPartyConfigClient(t *testing.T) {
	modules := npmInstall(t, cloudConfigClient)
	g := repotest.Init(t, t.TempDir())
	g.Commit(map[string]string{
		"application.yml":     "shared: application\nlist: [a, b, c]\nonly.application: yes\n",
		"greeter.yml":         "shared: greeter\ngreetings.string: plain\nlist: [g1]\n",
		"greeter-dev.yml":     "greetings.string: dev\nonly.dev: here\nlist: [dev1, dev2]\n",
		"greeter-prod.yml":    "greetings.string: prod\n",
		"gateway.yml":         "shared: gateway\nonly.gateway: here\n",
		"gateway-prod.yml":    "breaker.timeout: 5s\n",
		"greeter-release.yml": "unused: true\n",
	}, "main")
	release := g.Commit(map[string]string{"greeter.yml": "shared: greeter\ngreetings.string: from the release branch\n"}, "release")
	g.Branch("release", release)
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	p, err := shared.StartService("configserver", nil, "--http_address", "127.0.0.1:"+strconv.Itoa(port), "--registry_address=", "--repo_uri", g.Dir, "--repo_default_label", "main")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	if err := p.WaitReady(10*time.Second, func() error { return stack.AnswersOK(http.DefaultClient, endpoint+"/actuator/health") }); err != nil {
		t.Fatal(err)
	}

	script := `
const client = require("cloud-config-client");
const cases = JSON.parse(process.argv[1]);
(async () => {
  const out = {};
  for (const [name, options] of Object.entries(cases)) {
    try {
      const config = await client.load(Object.assign({endpoint: process.argv[2]}, options));
      out[name] = config.properties;
    } catch (e) {
      out[name] = {error: String(e)};
    }
  }
  console.log(JSON.stringify(out));
})();
`
	cases := map[string]map[string]any{
		"two profiles":     {"name": "greeter", "profiles": []string{"dev", "prod"}},
		"a label":          {"name": "greeter", "profiles": "default", "label": "release"},
		"two applications": {"name": "greeter,gateway", "profiles": "prod"},
	}
	arg, _ := json.Marshal(cases)
	cmd := exec.Command("node", "-e", script, string(arg), endpoint)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, want := range map[string]map[string]any{
		"two profiles":     {"greetings.string": "prod", "only.dev": "here", "shared": "greeter", "list[0]": "dev1", "list[1]": "dev2", "only.application": true},
		"a label":          {"greetings.string": "from the release branch", "shared": "greeter"},
		"two applications": {"shared": "gateway", "greetings.string": "prod", "only.gateway": "here", "breaker.timeout": "5s", "only.application": true},
	} {
		props := got[name]
		if props["error"] != nil {
			t.Errorf("%s: the client failed: %v", name, props["error"])
			continue
		}
		for key, value := range want {
			if props[key] != value {
				t.Errorf("%s: %s = %v, want %v (all: %v)", name, key, props[key], value, props)
			}
		}
	}
}

// npmInstall installs the pinned npm package once per machine (in the user's cache) and returns
// its node_modules folder. Without node and npm the test is skipped, but never in CI, whose
// setup (.ci/run) installs them.
func npmInstall(t *testing.T, pkg string) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is missing (.ci/run installs nodejs and npm)")
		}
		t.Skip("NOTICE: node and npm are missing; the third-party client test is skipped")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "gomicro-stack", "npm", pkg)
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, ".package-lock.json")); err == nil {
		return modules
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", dir, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", pkg, err, out)
	}
	return modules
}
