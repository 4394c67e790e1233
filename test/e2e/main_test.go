// Package e2e drives the real binaries — Consul, the config server, user, greeter, gateway — as
// processes on free ports, through the gateway's HTTP API, the way a client would.
package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// shared is the stack most tests use; tests that break things start their own.
var (
	shared   *stack.Stack
	binDir   string
	consul   string
	repoRoot string
	logs     = &syncBuffer{}
)

// syncBuffer collects the processes' output; it is printed when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		code = 1
	}
	if code != 0 {
		out := logs.String()
		if len(out) > 20000 {
			out = "...\n" + out[len(out)-20000:]
		}
		fmt.Fprintf(os.Stderr, "--- process output (last part) ---\n%s", out)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "gomicro-e2e-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(tmp)
	if repoRoot, err = findRepoRoot(); err != nil {
		return 1, err
	}
	binDir = filepath.Join(tmp, "bin")
	// ./service/... builds the services make service added too; the stack starts them.
	build := exec.Command("go", "build", "-o", binDir+"/", "./service/...", "./gateway", "./tools/consul-acl")
	build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 1, fmt.Errorf("build binaries: %w", err)
	}
	if consul, err = stack.FindConsul(repoRoot); err != nil {
		return 1, err
	}
	shared, err = startStack(filepath.Join(tmp, "shared"))
	if err != nil {
		return 1, err
	}
	code := m.Run()
	if err := shared.Stop(); err != nil {
		return 1, fmt.Errorf("stop shared stack: %w", err)
	}
	// A goroutine panic in any binary (quic-go in micro's cmd package used to do that at
	// start) fails the run even when every request happened to be answered.
	if strings.Contains(logs.String(), "panic:") {
		return 1, fmt.Errorf("a process panicked; see its output below")
	}
	return code, nil
}

// startStack starts Consul, the config server over config-repo/ and the three services on free
// ports, with data under dir.
func startStack(dir string, env ...string) (*stack.Stack, error) {
	return startStackWith(stack.Config{ConfigRepo: filepath.Join(repoRoot, "config-repo"), DatabaseDSN: filepath.Join(dir, "user.db"), Env: env})
}

// startStackWith starts a stack on free ports; c says which config repository, database and
// environment to use.
func startStackWith(c stack.Config) (*stack.Stack, error) {
	ports := make([]int, 5)
	for i := range ports {
		p, err := stack.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	c.BinDir, c.ConsulBin, c.Out = binDir, consul, logs
	if c.JWTSecret == "" {
		c.JWTSecret = randomSecret()
	}
	// Every test's requests come from 127.0.0.1, which the per-address limits would count as
	// one very busy client; the abuse tests set the limits they check (later entries win).
	c.Env = append([]string{"LIMITS_IP_RATE=10000", "LIMITS_IP_BURST=10000", "LIMITS_USERNAME_RATE=1000", "LIMITS_USERNAME_BURST=1000"}, c.Env...)
	c.ConsulPorts = stack.ConsulPorts{HTTP: ports[0], SerfLAN: ports[1], Server: ports[2]}
	c.GatewayAddress = "127.0.0.1:" + strconv.Itoa(ports[3])
	c.ConfigServerAddress = "127.0.0.1:" + strconv.Itoa(ports[4])
	return stack.Start(c)
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func findRepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}
