package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// findTool returns the tool from env, PATH, fallback, or skips (fails in CI) without it.
func findTool(t *testing.T, name, env string, fallbacks ...string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing", name)
	}
	t.Skipf("NOTICE: %s not installed", name)
	return ""
}

// TestNginxFrontsTheGateways: two gateways behind nginx, whose upstream consul-template
// renders from Consul. One gateway stops under load and comes back: no request fails, and the
// upstream follows.
func TestNginxFrontsTheGateways(t *testing.T) {
	nginx := findTool(t, "nginx", "NGINX_BIN", "/usr/sbin/nginx")
	consulTemplate := findTool(t, "consul-template", "CONSUL_TEMPLATE_BIN", filepath.Join(repoRoot, "bin", "consul-template"))
	s := ownStack(t, stack.Config{})
	token := newClient(t, s.GatewayURL).signup("nginx_e2e")

	port, _ := stack.FreePort()
	second := "127.0.0.1:" + strconv.Itoa(port)
	env := []string{"REGISTRY_ADDRESS=" + s.ConsulAddress, "JWT_SECRET=" + s.JWTSecret, "CONFIG_FAIL_FAST=true"}
	startSecond := func() (*stack.Process, error) {
		p, err := s.StartService("gateway", env, "--http_address", second)
		if err == nil {
			t.Cleanup(func() { p.Stop(5 * time.Second) })
		}
		return p, err
	}
	gateway2, err := startSecond()
	if err != nil {
		t.Fatal(err)
	}
	waitGateways(t, s, 2)

	run := t.TempDir()
	os.Chmod(run, 0o777) // nginx workers started by root run as nobody
	nginxPort, _ := stack.FreePort()
	rendered := filepath.Join(run, "nginx.conf")
	ct := exec.Command(consulTemplate, "-consul-addr", s.ConsulAddress, "-log-level", "warn",
		"-template", filepath.Join(repoRoot, "deploy", "nginx", "nginx.conf.ctmpl")+":"+rendered,
		"-exec", "exec "+nginx+" -p "+run+" -c "+rendered+" -g 'daemon off;'", "-exec-reload-signal", "SIGHUP")
	ct.Env = append(os.Environ(), "CONSUL_HTTP_TOKEN="+s.ConsulTokens["reader"], "NGINX_LISTEN=127.0.0.1:"+strconv.Itoa(nginxPort), "NGINX_RUN_DIR="+run)
	ct.Stdout, ct.Stderr = logs, logs
	// nginx runs in a process group of its own under consul-template and keeps the output
	// pipes open: stop it by its pid file, and bound the wait for the pipes.
	ct.WaitDelay = 5 * time.Second
	if err := ct.Start(); err != nil {
		t.Fatal(err)
	}
	ctExited := make(chan struct{})
	go func() { ct.Wait(); close(ctExited) }()
	t.Cleanup(func() {
		ct.Process.Signal(syscall.SIGTERM)
		exec.Command(nginx, "-p", run, "-c", rendered, "-s", "stop").Run()
		<-ctExited
	})
	front := "http://127.0.0.1:" + strconv.Itoa(nginxPort)
	if err := stack.Eventually(15*time.Second, 50*time.Millisecond, func() error {
		rsp, err := http.Get(front + "/health")
		if err != nil {
			return err
		}
		rsp.Body.Close()
		if rsp.StatusCode != 200 {
			return fmt.Errorf("nginx answered %s", rsp.Status)
		}
		return upstreamHas(rendered, second, true)
	}); err != nil {
		conf, _ := os.ReadFile(rendered)
		errorLog, _ := os.ReadFile(filepath.Join(run, "error.log"))
		select {
		case <-ctExited:
			err = fmt.Errorf("%w (consul-template has exited: %v)", err, ct.ProcessState)
		default:
		}
		t.Fatalf("nginx not ready: %v\nrendered:\n%s\nerror.log:\n%s", err, conf, errorLog)
	}

	var left, back time.Duration
	l := newLoad(front, token)
	l.run(100, 10*time.Second, 2*time.Second, func() {
		began := time.Now()
		gateway2.Signal(syscall.SIGTERM)
		if err := stack.Eventually(10*time.Second, 20*time.Millisecond, func() error { return upstreamHas(rendered, second, false) }); err != nil {
			t.Error(err)
			return
		}
		left = time.Since(began)
		<-gateway2.Done()
		began = time.Now()
		if gateway2, err = startSecond(); err != nil {
			t.Error(err)
			return
		}
		if err := stack.Eventually(15*time.Second, 20*time.Millisecond, func() error { return upstreamHas(rendered, second, true) }); err != nil {
			b, _ := os.ReadFile(rendered)
			t.Errorf("%v; %d passing gateways; rendered:\n%s", err, passingInstances(t, s, "gateway"), b)
			return
		}
		back = time.Since(began)
	})
	if _, failed, degraded, _, _ := l.report(t, "through nginx, one of two gateways stopped and started again"); failed != 0 || degraded != 0 {
		t.Fatalf("%d failed and %d degraded requests", failed, degraded)
	}
	t.Logf("the stopped gateway left the nginx upstream %s after SIGTERM; started again, it was back after %s",
		left.Round(time.Millisecond), back.Round(time.Millisecond))
	if left == 0 || back == 0 {
		t.Fatal("the upstream did not follow the gateway")
	}
	// Both reloads reached nginx and left consul-template running (a reload signal sent to a
	// shell instead of nginx ends both).
	select {
	case <-ctExited:
		t.Fatal("consul-template is gone after the reloads")
	default:
	}
	pid, _ := os.ReadFile(filepath.Join(run, "nginx.pid"))
	if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err != nil || syscall.Kill(n, 0) != nil {
		t.Fatalf("nginx (pid %q) is not running", pid)
	}
}

// upstreamHas checks whether the rendered nginx.conf lists address as a server.
func upstreamHas(rendered, address string, want bool) error {
	b, err := os.ReadFile(rendered)
	if err != nil {
		return err
	}
	if has := strings.Contains(string(b), "server "+address+" "); has != want {
		return fmt.Errorf("upstream lists %s: %v, want %v", address, has, want)
	}
	return nil
}

func waitGateways(t *testing.T, s *stack.Stack, n int) {
	t.Helper()
	if err := stack.Eventually(15*time.Second, 50*time.Millisecond, func() error {
		if got := passingInstances(t, s, "gateway"); got != n {
			return fmt.Errorf("%d passing gateways, want %d", got, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
