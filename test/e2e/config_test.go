package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo/repotest"
)

// TestConfigServerProtocol asks the running config server what the shared stack's services
// booted from.
func TestConfigServerProtocol(t *testing.T) {
	base := shared.ConfigServerURL
	rsp, err := http.Get(base + "/greeter/test")
	if err != nil {
		t.Fatal(err)
	}
	var env cloudconfig.Environment
	json.NewDecoder(rsp.Body).Decode(&env)
	rsp.Body.Close()
	var files []string
	for _, s := range env.PropertySources {
		files = append(files, filepath.Base(s.Name))
	}
	if strings.Join(files, " ") != "greeter-test.yml greeter.yml application.yml" {
		t.Fatalf("property sources %v", files)
	}
	if v, _ := cloudconfig.Merge(env.PropertySources).Get("greetings.string"); v != "Hi, here are greetings from test" {
		t.Fatalf("greetings.string = %v", v)
	}
	for path, want := range map[string]string{
		"/actuator/health":         `{"status":"UP"}`,
		"/greeter-prod.yml":        "greetings:\n  string: Hi, here are greetings from prod\n",
		"/user-default.properties": "database.dsn: var/user.db\n",
		"/user-default.json":       `"secret":"${JWT_SECRET}"`,
	} {
		rsp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s, want it to contain %q", path, rsp.StatusCode, body, want)
		}
	}
	// Two of Spring's CVE strings, byte for byte, against the real binary.
	addr := strings.TrimPrefix(base, "http://")
	for _, path := range []string{"/..%252F..%252F..%252Fetc%252Fpasswd%23foo/development", "/foo/default/..(_)..(_)etc(_)passwd"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		rsp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		conn.Close()
		if rsp.StatusCode != 400 || strings.Contains(string(body), "root:") {
			t.Fatalf("%s: %d %s", path, rsp.StatusCode, body)
		}
	}
}

// TestProfileTest: the greeter started with --profile test (here PROFILE=test) greets with the
// text of config-repo/greeter-test.yml.
func TestProfileTest(t *testing.T) {
	s, err := startStack(filepath.Join(t.TempDir(), "profile"), "PROFILE=test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	c := newClient(t, s.GatewayURL)
	hello := c.hello(c.signup("profile_e2e"), "Bob")
	if hello.Status != 200 || hello.Str("setting_message") != "Hi, here are greetings from test" {
		t.Fatalf("hello: %d %s", hello.Status, hello.Raw)
	}
}

// TestGitCommitRefreshesGreetingAndLimits serves config-repo/ from a git repository; a commit
// that changes the greeting shows in /greeter/hello within the refresh interval, and one that
// changes a gateway limit applies within it too, with no restart.
func TestGitCommitRefreshesGreetingAndLimits(t *testing.T) {
	const refresh = 500 * time.Millisecond
	g := repotest.Init(t, t.TempDir())
	files := map[string]string{}
	entries, _ := os.ReadDir(filepath.Join(repoRoot, "config-repo"))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(repoRoot, "config-repo", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files["config/"+e.Name()] = string(b)
	}
	first := g.Commit(files, "config-repo as it is")

	s, err := startStackWith(stack.Config{
		ConfigRepo:       g.Dir,
		ConfigServerArgs: []string{"--repo_search_path", "config"},
		DatabaseDSN:      filepath.Join(t.TempDir(), "user.db"),
		Env:              []string{"CONFIG_REFRESH_INTERVAL=" + refresh.String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	var env cloudconfig.Environment
	if rsp, err := http.Get(s.ConfigServerURL + "/greeter/default"); err == nil {
		json.NewDecoder(rsp.Body).Decode(&env)
		rsp.Body.Close()
	}
	if env.Version == nil || *env.Version != first || env.Label == nil || *env.Label != "main" {
		t.Fatalf("environment version %v label %v, want %s main", env.Version, env.Label, first)
	}

	c := newClient(t, s.GatewayURL)
	token := c.signup("git_refresh_e2e")
	if hello := c.hello(token, "Bob"); hello.Str("setting_message") != "Hi, here are greetings from gomicro-stack" {
		t.Fatalf("before the commit: %s", hello.Raw)
	}
	greeterPID := s.Greeter.PID()
	g.Commit(map[string]string{"config/greeter.yml": "greetings:\n  string: \"Hi, committed a moment ago\"\n"}, "new greeting")
	committed := time.Now()
	err = stack.Eventually(refresh+2*time.Second, 50*time.Millisecond, func() error {
		hello := c.hello(token, "Bob")
		if got := hello.Str("setting_message"); got != "Hi, committed a moment ago" {
			return &unexpected{got}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the committed greeting did not show within %s: %v", refresh+2*time.Second, err)
	}
	t.Logf("commit visible in /greeter/hello after %s (refresh interval %s)", time.Since(committed).Round(time.Millisecond), refresh)
	if s.Greeter.PID() != greeterPID {
		t.Fatal("the greeter restarted")
	}

	// The gateway's limits follow too: with login_failures 2, the third failed login of a
	// username is refused by the gateway (by default it takes 10).
	failThrice := func(username string) []int {
		var statuses []int
		for range 3 {
			statuses = append(statuses, c.login(username, "wrong password").Status)
		}
		return statuses
	}
	if got := failThrice("refresh_before_e2e"); !slices.Equal(got, []int{401, 401, 401}) {
		t.Fatalf("three failed logins before the commit: %v", got)
	}
	gatewayPID := s.Gateway.PID()
	g.Commit(map[string]string{"config/gateway.yml": files["config/gateway.yml"] + "\nlimits:\n  login_failures: 2\n"}, "lock after 2 failed logins")
	committed = time.Now()
	attempt := 0
	err = stack.Eventually(refresh+2*time.Second, 50*time.Millisecond, func() error {
		attempt++
		if got := failThrice(fmt.Sprintf("refresh_after%d_e2e", attempt)); !slices.Equal(got, []int{401, 401, 429}) {
			return fmt.Errorf("three failed logins: %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the committed limit did not apply within %s: %v", refresh+2*time.Second, err)
	}
	t.Logf("limits.login_failures applied by the gateway %s after the commit", time.Since(committed).Round(time.Millisecond))
	if s.Gateway.PID() != gatewayPID {
		t.Fatal("the gateway restarted")
	}
}

type unexpected struct{ got string }

func (u *unexpected) Error() string { return "setting_message is " + strconv.Quote(u.got) }

// TestConfigServerDownAtStart: with fail-fast, a service retries, then exits with one line that
// names the URL it tried; without, it starts on its defaults with a warning.
func TestConfigServerDownAtStart(t *testing.T) {
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down := "http://127.0.0.1:" + strconv.Itoa(port)
	retry := []string{"--config_retry_initial_interval=200ms", "--config_retry_multiplier=1.5", "--config_retry_max_interval=400ms", "--config_retry_max_attempts=4"}
	env := append(os.Environ(), "REGISTRY_ADDRESS="+shared.ConsulAddress, "JWT_SECRET="+shared.JWTSecret)

	for _, binary := range []string{"user", "greeter", "gateway"} {
		t.Run(binary+" fail-fast", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, binary), append(retry, "--config_server", down, "--config_fail_fast")...)
			cmd.Env = env
			began := time.Now()
			out, err := cmd.CombinedOutput()
			elapsed := time.Since(began)
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, binary+": config server "+down+"/"+binary+"/default: ") || !strings.Contains(last, "gave up after 4 attempts") {
				t.Fatalf("last line: %s", last)
			}
			// Waits of 200, 300 and 400 ms between the four attempts.
			if elapsed < 900*time.Millisecond {
				t.Fatalf("gave up after %s: no back-off", elapsed)
			}
			t.Logf("exited after %s: %s", elapsed.Round(time.Millisecond), last)
		})
	}

	t.Run("greeter without fail-fast", func(t *testing.T) {
		p, err := shared.StartService("greeter", []string{"REGISTRY_ADDRESS=" + shared.ConsulAddress}, append(retry, "--config_server", down)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop(5 * time.Second) })
		err = p.WaitReady(10*time.Second, func() error {
			if n := passingInstances(t, shared, "go.micro.api.greeter"); n < 2 {
				return &unexpected{strconv.Itoa(n) + " greeters"}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "warning: config server "+down+"/greeter/default") {
			t.Fatal("no warning about the config server in the greeter's output")
		}
	})
}

// TestConfigServerRegistration: a second config server joins Consul as a passing config-server
// instance and leaves it on SIGTERM.
func TestConfigServerRegistration(t *testing.T) {
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := shared.StartService("configserver", nil, "--http_address", "127.0.0.1:"+strconv.Itoa(port),
		"--registry_address", shared.ConsulAddress, "--repo_uri", filepath.Join(repoRoot, "config-repo"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	count := func(want int) func() error {
		return func() error {
			if n := passingInstances(t, shared, "config-server"); n != want {
				return &unexpected{strconv.Itoa(n) + " config servers"}
			}
			return nil
		}
	}
	if err := stack.Eventually(10*time.Second, 20*time.Millisecond, count(2)); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := stack.Eventually(time.Second, 10*time.Millisecond, count(1)); err != nil {
		t.Fatalf("not deregistered within 1s of SIGTERM: %v", err)
	}
	t.Logf("config server deregistered %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	<-p.Done()
	if _, err := p.Exited(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
