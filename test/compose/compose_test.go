// Package compose runs docker-compose.yml as a user would: the project's images built from its
// Dockerfile, the stack brought up with `docker compose up --wait`, used through the gateway,
// stopped and started again, and taken down leaving nothing behind. It needs a Docker engine
// with the Compose and buildx plugins: make compose-test provides them, and stand-ins for the
// images no registry gives here (test/compose/standins), then runs it with COMPOSE_TEST=1.
package compose

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// project is the test's compose project name: its containers, network and volumes carry it,
// apart from any a user runs.
const project = "gomicro-compose-test"

// services are those brought up: all but Spring's config server (the go-config profile puts
// ours in its place) and the Hystrix dashboard (a Java image: neither can be pulled or stood
// in for on a machine without a registry).
var services = []string{"consul", "consul-acl", "config-server-go", "postgres", "user", "greeter", "gateway", "jaeger"}

type composeRun struct {
	t       *testing.T
	root    string
	envFile string
	ports   map[string]int
}

// compose runs docker compose on the project, with the test's .env, and fails the test on an
// error; its output is kept for the failure message.
func (c *composeRun) compose(timeout time.Duration, args ...string) string {
	c.t.Helper()
	out, err := c.try(timeout, args...)
	if err != nil {
		c.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *composeRun) try(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"compose", "--project-name", project, "--env-file", c.envFile, "--file", filepath.Join(c.root, "docker-compose.yml")}, args...)
	cmd := exec.CommandContext(ctx, "docker", full...)
	cmd.Dir = c.root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestComposeUp(t *testing.T) {
	if os.Getenv("COMPOSE_TEST") != "1" {
		t.Skip("make compose-test runs this (it needs a Docker engine, the Compose plugin and the images)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c := &composeRun{t: t, root: root, ports: map[string]int{}}
	c.envFile = writeEnv(t, root, c.ports)
	// Whatever happens, nothing is left behind: containers, network and volumes go.
	t.Cleanup(func() {
		if out, err := c.try(3*time.Minute, "down", "--volumes", "--remove-orphans", "--timeout", "10"); err != nil {
			t.Logf("docker compose down: %v\n%s", err, out)
		}
	})

	began := time.Now()
	c.compose(30*time.Minute, "build")
	t.Logf("TIMING build of the images from the Dockerfile: %s", since(began))
	began = time.Now()
	c.up()
	t.Logf("TIMING up --wait (every service healthy): %s", since(began))

	gateway := "http://127.0.0.1:" + strconv.Itoa(c.ports["GATEWAY_PORT"])
	user := client{t: t, base: gateway}
	if a := user.post("/user/register", `{"username":"compose_user","password":"compose password"}`, ""); a.status != 201 {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	token := user.login("compose_user", "compose password")
	hello := user.post("/greeter/hello", `{"name":"Bob"}`, token)
	// The dev profile's greeting (config-repo/greeter-dev.yml), through the config server.
	if hello.status != 200 || hello.field("greeting") != "Hello Bob" || hello.field("setting_message") != "Hi, here are greetings from dev" ||
		hello.field("username") != "compose_user" || hello.field("degraded") != nil {
		t.Fatalf("hello: %d %s", hello.status, hello.body)
	}
	if a := user.post("/greeter/hello", `{"name":"Bob"}`, ""); a.status != 401 || a.field("message") != "please login" {
		t.Fatalf("hello without a token: %d %s", a.status, a.body)
	}
	t.Run("the hello's trace in Jaeger", func(t *testing.T) {
		id := strings.Split(hello.header.Get("Traceparent"), "-")
		if len(id) != 4 {
			t.Fatalf("traceparent %q", hello.header.Get("Traceparent"))
		}
		waitTrace(t, "http://127.0.0.1:"+strconv.Itoa(c.ports["JAEGER_UI_PORT"]), id[1], "gateway", "greeter", "user")
	})
	t.Run("the breaker stream", func(t *testing.T) {
		line := commandEvent(t, "http://127.0.0.1:"+strconv.Itoa(c.ports["BREAKER_STREAM_PORT"])+"/hystrix.stream")
		if !strings.Contains(line, "GetUserInfo") || !strings.Contains(line, `"isCircuitBreakerOpen":false`) {
			t.Fatalf("the breaker's event: %s", line)
		}
	})

	// With the user service stopped, a hello is answered by the breaker's fallback.
	began = time.Now()
	c.compose(2*time.Minute, "stop", "user")
	if err := stack.Eventually(30*time.Second, 200*time.Millisecond, func() error {
		if a := user.post("/greeter/hello", `{"name":"Bob"}`, token); a.status != 200 || a.field("degraded") != true {
			return fmt.Errorf("%d %s", a.status, a.body)
		}
		return nil
	}); err != nil {
		t.Fatalf("a hello with user stopped: %v", err)
	}
	t.Logf("TIMING a degraded hello %s after docker compose stop user", since(began))

	// down and up again: the account is in the database's volume, the Consul tokens in Consul's.
	began = time.Now()
	c.compose(3*time.Minute, "down", "--timeout", "10")
	c.up()
	t.Logf("TIMING down, then up --wait again: %s", since(began))
	again := user.login("compose_user", "compose password")
	if a := user.post("/greeter/hello", `{"name":"Bob"}`, again); a.status != 200 || a.field("degraded") != nil {
		t.Fatalf("hello after down and up: %d %s", a.status, a.body)
	}

	began = time.Now()
	c.compose(3*time.Minute, "down", "--volumes", "--remove-orphans", "--timeout", "10")
	t.Logf("TIMING down --volumes: %s", since(began))
	for _, kind := range []string{"container", "network", "volume"} {
		args := []string{kind, "ls", "--quiet", "--filter", "label=com.docker.compose.project=" + project}
		if kind == "container" {
			args = append(args, "--all")
		}
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("after down --volumes, %ss of the project are left: %v %s", kind, err, out)
		}
	}
}

// up starts the services and waits until every one is healthy (consul-acl: done).
func (c *composeRun) up() {
	c.t.Helper()
	if out, err := c.try(10*time.Minute, append([]string{"up", "--detach", "--wait", "--wait-timeout", "300"}, services...)...); err != nil {
		logs, _ := c.try(time.Minute, "logs", "--no-color", "--tail", "40")
		ps, _ := c.try(time.Minute, "ps", "--all")
		c.t.Fatalf("docker compose up --wait: %v\n%s\n%s\n%s", err, out, ps, logs)
	}
}

// writeEnv writes the test's .env: what .env.example asks for (fresh keys and tokens from
// tools/keygen, secrets), the go-config profile, free host ports, and this machine's CA
// certificates for the builds (its module proxy is reached through a TLS-inspecting proxy).
func writeEnv(t *testing.T, root string, ports map[string]int) string {
	keys, err := exec.Command("go", "run", filepath.Join(root, "tools/keygen")).Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	var env bytes.Buffer
	env.Write(keys)
	fmt.Fprintf(&env, "JWT_SECRET=%s\nPOSTGRES_PASSWORD=compose-test-password\nPROFILE=dev\nVERSION=compose-test\nCOMPOSE_PROFILES=go-config\n", strings.Repeat("s", 40))
	for _, name := range []string{"GATEWAY_PORT", "CONSUL_PORT", "CONFIG_SERVER_PORT", "BREAKER_STREAM_PORT", "JAEGER_UI_PORT", "HYSTRIX_DASHBOARD_PORT"} {
		ports[name] = freePort(t)
		fmt.Fprintf(&env, "%s=%d\n", name, ports[name])
	}
	if ca := os.Getenv("EXTRA_CA_CERTIFICATES"); ca != "" {
		fmt.Fprintf(&env, "EXTRA_CA_CERTIFICATES=%s\n", ca)
	}
	for _, name := range []string{"GOPROXY", "GONOSUMDB", "GOPRIVATE", "GOFLAGS"} {
		if v := os.Getenv(name); v != "" {
			fmt.Fprintf(&env, "%s=%s\n", name, v)
		}
	}
	file := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(file, env.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func freePort(t *testing.T) int {
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

type client struct {
	t    *testing.T
	base string
}

type answer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (a answer) field(name string) any { return a.json[name] }

func (c client) post(path, body, token string) answer {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	a := answer{status: rsp.StatusCode, header: rsp.Header, body: string(raw)}
	json.Unmarshal(raw, &a.json)
	return a
}

func (c client) login(username, password string) string {
	c.t.Helper()
	a := c.post("/user/login", fmt.Sprintf(`{"username":%q,"password":%q}`, username, password), "")
	token, _ := a.field("token").(string)
	if a.status != 200 || token == "" {
		c.t.Fatalf("login: %d %s", a.status, a.body)
	}
	return token
}

// waitTrace waits until Jaeger's query API holds trace id with spans of every one of services.
func waitTrace(t *testing.T, jaeger, id string, services ...string) {
	t.Helper()
	err := stack.Eventually(30*time.Second, 500*time.Millisecond, func() error {
		rsp, err := http.Get(jaeger + "/api/traces/" + id)
		if err != nil {
			return err
		}
		defer rsp.Body.Close()
		var body struct {
			Data []struct {
				Processes map[string]struct {
					ServiceName string `json:"serviceName"`
				} `json:"processes"`
			} `json:"data"`
		}
		if err := json.NewDecoder(rsp.Body).Decode(&body); err != nil || len(body.Data) != 1 {
			return fmt.Errorf("trace %s: %s %v", id, rsp.Status, err)
		}
		have := map[string]bool{}
		for _, p := range body.Data[0].Processes {
			have[p.ServiceName] = true
		}
		for _, s := range services {
			if !have[s] {
				return fmt.Errorf("trace %s has no span of %s yet (%v)", id, s, have)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// commandEvent is the first HystrixCommand event of a Hystrix event stream.
func commandEvent(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	lines := bufio.NewScanner(rsp.Body)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		if data, ok := strings.CutPrefix(lines.Text(), "data:"); ok && strings.Contains(data, `"type":"HystrixCommand"`) {
			return strings.TrimSpace(data)
		}
	}
	t.Fatalf("%s: no command event (%v)", url, lines.Err())
	return ""
}
