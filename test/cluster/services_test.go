package cluster

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// postgresBin is the folder of Debian's PostgreSQL server binaries.
func postgresBin(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	t.Fatal("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	return ""
}

// startPostgres runs a PostgreSQL server of its own on host (the machine's one listens on its
// loopback only, which no other host reaches), as the postgres user, trusting the lab's subnet.
func startPostgres(t *testing.T, h *Host) string {
	t.Helper()
	bin := postgresBin(t)
	dir, err := os.MkdirTemp("", "gms-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v %s", err, out)
	}
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(hba, "host all all %s0/24 trust\n", subnet)
	hba.Close()
	h.Start("postgres", "runuser", "-u", "postgres", "--", filepath.Join(bin, "postgres"), "-D", data, "-h", h.IP, "-p", "5432", "-k", dir)
	waitListening(t, "postgres", h.IP+":5432", 30*time.Second)
	return "postgres://postgres@" + h.IP + ":5432/postgres?sslmode=disable"
}

// waitListening waits until what name runs accepts connections at address.
func waitListening(t *testing.T, name, address string, within time.Duration) {
	t.Helper()
	if err := stack.Eventually(within, 100*time.Millisecond, func() error {
		conn, err := net.DialTimeout("tcp", address, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// system is the services spread over the app hosts.
type system struct {
	t           *testing.T
	tokens      map[string]string
	bin         string
	env         []string
	dsn         string
	gateways    map[*Host]string // host → gateway URL
	instances   map[string]*Proc // "user@app1" → process
	instanceArg map[string][]string
	hostOf      map[string]*Host
}

// startSystem starts the config server on the first app host and a user, a greeter and a
// gateway on every app host, each registering with its own host's agent and advertising its
// own host's address.
func startSystem(t *testing.T, c *consulCluster, dsn string) *system {
	t.Helper()
	bin := binDir
	repo, _ := filepath.Abs("../../config-repo")
	_, private, _ := ed25519.GenerateKey(nil)
	public := base64.StdEncoding.EncodeToString(private.Public().(ed25519.PublicKey))
	s := &system{t: t, tokens: c.tokens, bin: bin, dsn: dsn, gateways: map[*Host]string{}, instances: map[string]*Proc{}, instanceArg: map[string][]string{}, hostOf: map[string]*Host{}}
	s.env = []string{
		"JWT_SECRET=" + strings.Repeat("cluster-secret-", 3),
		"CONFIG_FAIL_FAST=true",
		"INTERNAL_AUTH_PRIVATE_KEY=" + base64.StdEncoding.EncodeToString(private.Seed()),
		"INTERNAL_AUTH_PUBLIC_KEYS=" + public,
	}
	first := c.apps[0]
	s.start("configserver", first, "--http_address", first.IP+":8888", "--registry_address", first.IP+":8500", "--repo_uri", repo)
	for _, h := range c.apps {
		s.start("user", h, "--server_address", h.IP+":0", "--broker_listen", h.IP+":0", "--database_dsn", dsn)
		s.start("greeter", h, "--server_address", h.IP+":0", "--broker_listen", h.IP+":0", "--breaker_stream_address", "")
		s.start("gateway", h, "--http_address", h.IP+":8080", "--broker_listen", h.IP+":0")
		s.gateways[h] = "http://" + h.IP + ":8080"
	}
	// Each gateway is ready when it reaches a user service and routes the greeter's hello (a
	// hello without a token: refused, 401, not unknown, 404).
	for h, url := range s.gateways {
		if err := stack.Eventually(60*time.Second, 200*time.Millisecond, func() error {
			for path, body := range map[string]string{"/user/login": `{"username":"nobody","password":"wrong password"}`, "/greeter/hello": `{"name":"Bob"}`} {
				rsp, err := httpClient.Post(url+path, "application/json", strings.NewReader(body))
				if err != nil {
					return err
				}
				rsp.Body.Close()
				if rsp.StatusCode != http.StatusUnauthorized {
					return fmt.Errorf("%s answered %d", path, rsp.StatusCode)
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("the gateway on %s is not ready: %v", h.Name, err)
		}
	}
	return s
}

func (s *system) start(service string, h *Host, args ...string) {
	key := service + "@" + h.Name
	env := append([]string{"REGISTRY_ADDRESS=" + h.IP + ":8500", "REGISTRY_TOKEN=" + s.tokens[service]}, s.env...)
	s.instances[key] = h.StartEnv(key, env, filepath.Join(s.bin, service), args...)
	s.instanceArg[key] = args
	s.hostOf[key] = h
}

// call posts body to path at base, with token when given, and decodes the answer.
func call(base, path, body, token string) (int, map[string]any, error) {
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer rsp.Body.Close()
	var out map[string]any
	json.NewDecoder(rsp.Body).Decode(&out)
	return rsp.StatusCode, out, nil
}

// load sends paced hellos, round-robin over the gateways it is given, counting the ones that
// did not come back 200 (degraded answers count apart).
type load struct {
	sent, failed, degraded atomic.Int64
	mu                     sync.Mutex
	targets                []string
	firstError             string
	slowest                time.Duration
	stop                   chan struct{}
	wg                     sync.WaitGroup
}

func startLoad(token string, perSecond int, targets ...string) *load {
	l := &load{targets: targets, stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			// Each hello on its own: a slow one must not hold back the pace.
			l.wg.Add(1)
			go func(i int) {
				defer l.wg.Done()
				l.hello(token, i)
			}(i)
		}
	}()
	return l
}

func (l *load) hello(token string, i int) {
	l.mu.Lock()
	target := l.targets[i%len(l.targets)]
	l.mu.Unlock()
	l.sent.Add(1)
	began := time.Now()
	status, body, err := call(target, "/greeter/hello", `{"name":"Bob"}`, token)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, time.Since(began))
	switch {
	case err != nil || status != http.StatusOK:
		l.failed.Add(1)
		if l.firstError == "" {
			l.firstError = fmt.Sprintf("%s: %d %v %v", target, status, body, err)
		}
	case body["degraded"] == true:
		l.degraded.Add(1)
	}
}

// aim sends the load to targets only from now on.
func (l *load) aim(targets ...string) {
	l.mu.Lock()
	l.targets = targets
	l.mu.Unlock()
}

func (l *load) finish(t *testing.T, what string) int64 {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("%s: %d hellos, %d failed, %d degraded, slowest %s%s", what, l.sent.Load(), l.failed.Load(), l.degraded.Load(), l.slowest.Round(time.Millisecond),
		map[bool]string{true: " (first failure: " + l.firstError + ")", false: ""}[l.firstError != ""])
	return l.failed.Load()
}

// loginCountedEverywhere logs in through the gateway at loginVia until hellos through helloVia,
// which reach the greeters of every host (round robin), all count a login, and says how many
// logins it took. Events are not kept: a login announced before a greeter has subscribed (they
// subscribe as they start) reaches no one, so one is made again until one is counted.
func loginCountedEverywhere(t *testing.T, loginVia, helloVia, token string) int {
	t.Helper()
	everyGreeter := func() error {
		for range 6 {
			status, body, err := call(helloVia, "/greeter/hello", `{"name":"Bob"}`, token)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("hello: %d %v %v", status, body, err)
			}
			if logins, _ := body["logins"].(float64); logins < 1 {
				return fmt.Errorf("a greeter answered logins %v", logins)
			}
		}
		return nil
	}
	logins := 0
	err := stack.Eventually(30*time.Second, 10*time.Millisecond, func() error {
		logins++
		if status, body, err := call(loginVia, "/user/login", `{"username":"cluster","password":"cluster password"}`, ""); err != nil || status != http.StatusOK {
			return fmt.Errorf("login: %d %v %v", status, body, err)
		}
		return stack.Eventually(2*time.Second, 100*time.Millisecond, everyGreeter)
	})
	if err != nil {
		t.Fatalf("no login through %s was counted by every greeter (%d tried): %v", loginVia, logins, err)
	}
	return logins
}

// TestServicesAcrossHosts: the whole system on two app hosts over a three-server Consul
// cluster, each service with its own host's agent, users in a PostgreSQL on a host of its own;
// hellos through both gateways while the Consul leader is killed, an app host is partitioned
// and another restarted service by service; a login on one host counted by the greeters of both.
func TestServicesAcrossHosts(t *testing.T) {
	lab := New(t)
	c := startConsul(t, lab, 2)
	dsn := startPostgres(t, lab.AddHost("db", 20))
	s := startSystem(t, c, dsn)
	app1, app2 := c.apps[0], c.apps[1]
	gw1, gw2 := s.gateways[app1], s.gateways[app2]

	if status, body, err := call(gw1, "/user/register", `{"username":"cluster","password":"cluster password"}`, ""); err != nil || status != http.StatusCreated {
		t.Fatalf("register through app1: %d %v %v", status, body, err)
	}
	status, body, err := call(gw2, "/user/login", `{"username":"cluster","password":"cluster password"}`, "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("login through app2: %d %v %v", status, body, err)
	}
	token := body["token"].(string)

	t.Run("a login on one host counts on the greeters of both", func(t *testing.T) {
		n := loginCountedEverywhere(t, gw2, gw1, token)
		t.Logf("a login through app2 is counted by the greeters of both hosts over the http broker (%d login(s) made while they subscribed)", n)
	})

	t.Run("the Consul leader is killed under load", func(t *testing.T) {
		l := startLoad(token, 40, gw1, gw2)
		time.Sleep(2 * time.Second)
		leader := c.leaderNode()
		killed := time.Now()
		c.procs[leader].Kill()
		if err := stack.Eventually(30*time.Second, 50*time.Millisecond, func() error {
			if l := c.leader(leader); l == "" || strings.HasPrefix(l, c.servers[leader].IP+":") {
				return fmt.Errorf("no new leader")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		elected := time.Since(killed)
		time.Sleep(3 * time.Second)
		failed := l.finish(t, fmt.Sprintf("Consul leader %s killed, a new one elected after %s", leader, elected.Round(time.Millisecond)))
		if failed != 0 {
			t.Errorf("%d hellos failed while Consul elected a leader: services route from their registry cache", failed)
		}
		c.restart(t, leader)
	})

	t.Run("app2 is partitioned for 15s under load", func(t *testing.T) {
		l := startLoad(token, 40, gw1)
		time.Sleep(time.Second)
		app2.Partition(true)
		cut := time.Now()
		time.Sleep(15 * time.Second)
		app2.Partition(false)
		healed := time.Now()
		// Its instances come back into the passing set without a restart.
		var back time.Duration
		if err := stack.Eventually(90*time.Second, 200*time.Millisecond, func() error {
			for _, service := range []string{"go.micro.api.user", "go.micro.api.greeter", "gateway"} {
				ids, err := passing(app1.IP, service, true)
				if err != nil || len(ids) != 2 {
					return fmt.Errorf("%s passing %v (%v)", service, ids, err)
				}
			}
			back = time.Since(healed)
			return nil
		}); err != nil {
			t.Fatalf("app2's instances never came back after the partition: %v", err)
		}
		l.aim(gw1, gw2)
		time.Sleep(3 * time.Second)
		failed := l.finish(t, fmt.Sprintf("app2 partitioned for %s, back in the passing set %s after the heal", healed.Sub(cut).Round(time.Second), back.Round(time.Millisecond)))
		if failed != 0 {
			t.Errorf("%d hellos through app1's gateway failed while app2 was cut off", failed)
		}
	})

	t.Run("every instance restarted one by one under load", func(t *testing.T) {
		// The services read the config server at start only (and poll it for changes), so a
		// restart of it costs no call.
		// As a load balancer would, the load goes to the gateways that are up: while a host's
		// gateway restarts, only to the other's.
		l := startLoad(token, 40, gw1, gw2)
		for _, h := range c.apps {
			other := gw1
			if h == app1 {
				other = gw2
			}
			services := []string{"user", "greeter", "gateway"}
			if h == app1 {
				services = append([]string{"configserver"}, services...)
			}
			for _, service := range services {
				key := service + "@" + h.Name
				if service == "gateway" {
					l.aim(other)
					time.Sleep(200 * time.Millisecond) // hellos already sent there finish
				}
				p := s.instances[key]
				p.Signal(syscall.SIGTERM)
				select {
				case <-p.Done():
				case <-time.After(15 * time.Second):
					t.Fatalf("%s did not stop on SIGTERM", key)
				}
				s.start(service, h, s.instanceArg[key]...)
				name := map[string]string{"configserver": "config-server", "user": "go.micro.api.user", "greeter": "go.micro.api.greeter", "gateway": "gateway"}[service]
				want := map[bool]int{true: 1, false: 2}[service == "configserver"]
				if err := stack.Eventually(30*time.Second, 100*time.Millisecond, func() error {
					if ids, err := passing(app1.IP, name, true); err != nil || len(ids) != want {
						return fmt.Errorf("%s passing %v (%v)", name, ids, err)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				l.aim(gw1, gw2)
			}
		}
		time.Sleep(2 * time.Second)
		if failed := l.finish(t, "rolling restart of the config server and every user, greeter and gateway, one by one"); failed != 0 {
			t.Errorf("%d hellos failed during the rolling restart", failed)
		}
	})

	t.Run("events travel between hosts over NATS too", func(t *testing.T) {
		// A NATS server on a host of its own; users and greeters restarted onto it.
		natsHost := lab.AddHost("nats", 21)
		natsBin, err := exec.LookPath("nats-server")
		if err != nil {
			natsBin = "/usr/sbin/nats-server"
		}
		natsHost.Start("nats", natsBin, "-a", natsHost.IP, "-p", "4222")
		nats := "nats://" + natsHost.IP + ":4222"
		waitListening(t, "nats-server", natsHost.IP+":4222", 10*time.Second)
		for _, h := range c.apps {
			for _, service := range []string{"user", "greeter"} {
				key := service + "@" + h.Name
				p := s.instances[key]
				p.Signal(syscall.SIGTERM)
				<-p.Done()
				s.start(service, h, append(s.instanceArg[key], "--broker_address", nats)...)
			}
		}
		// Fresh greeters count from zero: a new login through app1 must be counted by both.
		if err := stack.Eventually(30*time.Second, 200*time.Millisecond, func() error {
			for _, name := range []string{"go.micro.api.user", "go.micro.api.greeter"} {
				if ids, err := passing(app1.IP, name, true); err != nil || len(ids) != 2 {
					return fmt.Errorf("%s passing %v (%v)", name, ids, err)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		n := loginCountedEverywhere(t, gw1, gw2, token)
		t.Logf("a login through app1 is counted by the greeters of both hosts, over NATS on a host of its own (%d login(s) made while they subscribed)", n)
	})

	t.Run("app2 dies under load", func(t *testing.T) {
		l := startLoad(token, 40, gw1)
		time.Sleep(time.Second)
		died := time.Now()
		app2.KillAll()
		var gone time.Duration
		if err := stack.Eventually(60*time.Second, 100*time.Millisecond, func() error {
			for _, service := range []string{"go.micro.api.user", "go.micro.api.greeter"} {
				if ids, err := passing(app1.IP, service, true); err != nil || len(ids) != 1 {
					return fmt.Errorf("%s passing %v (%v)", service, ids, err)
				}
			}
			gone = time.Since(died)
			return nil
		}); err != nil {
			t.Fatalf("app2's instances never left the passing set: %v", err)
		}
		time.Sleep(2 * time.Second)
		failed := l.finish(t, fmt.Sprintf("app2 killed with its agent, its instances out of the passing set after %s", gone.Round(time.Millisecond)))
		if failed != 0 {
			t.Errorf("%d hellos through app1's gateway failed after app2 died", failed)
		}
	})
}
