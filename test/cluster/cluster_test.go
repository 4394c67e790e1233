package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/consulacl"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// consulBin is the Consul binary (CONSUL_BIN, one on PATH, or the one make builds).
func consulBin(t *testing.T) string {
	t.Helper()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	bin, err := stack.FindConsul(root)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// managementToken and agentToken are the cluster's ACL secrets (the servers' initial
// management token, which the test's Consul requests carry, and every agent's token).
var managementToken, agentToken string

// agentConfig renders deploy/consul/{server,client}.hcl for one host, as an operator would.
func agentConfig(t *testing.T, kind, node, address, dataDir string, join []string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "deploy", "consul", kind+".hcl"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New(kind).Parse(string(text)))
	var out bytes.Buffer
	data := map[string]any{"Node": node, "Address": address, "DataDir": dataDir, "Join": join, "ManagementToken": managementToken, "AgentToken": agentToken}
	if err := tmpl.Execute(&out, data); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), node+".hcl")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

type consulCluster struct {
	// tokens are the binaries' Consul tokens (consulacl.Grants), by binary name.
	tokens  map[string]string
	servers map[string]*Host // by node name
	procs   map[string]*Proc
	configs map[string]string // the agent configuration files, by node name
	apps    []*Host
}

// restart starts node's agent again with its configuration and its data.
func (c *consulCluster) restart(t *testing.T, node string) {
	t.Helper()
	c.procs[node] = c.servers[node].Start(node, consulBin(t), "agent", "-config-file", c.configs[node])
}

// startConsul starts three servers (hosts .1 to .3) and a client agent on each app host
// (.11 on), each from deploy/consul's configuration, and waits for a leader and every member.
func startConsul(t *testing.T, lab *Lab, apps int) *consulCluster {
	t.Helper()
	bin := consulBin(t)
	c := &consulCluster{servers: map[string]*Host{}, procs: map[string]*Proc{}, configs: map[string]string{}, tokens: map[string]string{}}
	managementToken, agentToken = newSecret(t), newSecret(t)
	// The services make service added get tokens too (consulacl.Grants asks for them); the
	// cluster runs only the stack's own.
	for _, name := range append([]string{"configserver", "user", "greeter", "gateway", "reader"}, names.Added...) {
		c.tokens[name] = newSecret(t)
	}
	var serverIPs []string
	for i := 1; i <= 3; i++ {
		serverIPs = append(serverIPs, fmt.Sprintf("%s%d", subnet, i))
	}
	for i := 1; i <= 3; i++ {
		node := fmt.Sprintf("server%d", i)
		h := lab.AddHost(node, i)
		c.servers[node] = h
		c.configs[node] = agentConfig(t, "server", node, h.IP, t.TempDir(), serverIPs)
		c.procs[node] = h.Start(node, bin, "agent", "-config-file", c.configs[node])
	}
	for i := 1; i <= apps; i++ {
		node := fmt.Sprintf("app%d", i)
		h := lab.AddHost(node, 10+i)
		c.apps = append(c.apps, h)
		cfg := agentConfig(t, "client", node, h.IP, t.TempDir(), serverIPs)
		c.procs[node] = h.Start(node, bin, "agent", "-config-file", cfg)
	}
	// As tools/consul-acl does with CONSUL_AGENT_TOKEN: the binaries' tokens and the agents' token, made
	// with the management token once there is a leader.
	if err := stack.Eventually(60*time.Second, 200*time.Millisecond, func() error {
		if c.leader("") == "" {
			return fmt.Errorf("no leader")
		}
		client, err := api.NewClient(&api.Config{Address: c.servers["server1"].IP + ":8500", Token: managementToken})
		if err != nil {
			return err
		}
		grants, err := consulacl.Grants(c.tokens)
		if err != nil {
			return err
		}
		if err := consulacl.ApplyAgentToken(client, agentToken); err != nil {
			return err
		}
		return consulacl.Apply(client, grants)
	}); err != nil {
		t.Fatalf("consul ACLs: %v", err)
	}
	if err := stack.Eventually(60*time.Second, 200*time.Millisecond, func() error {
		if n := c.alive(c.servers["server1"].IP); n != 3+apps {
			return fmt.Errorf("%d of %d members alive", n, 3+apps)
		}
		return nil
	}); err != nil {
		t.Fatalf("consul cluster: %v", err)
	}
	return c
}

func newSecret(t *testing.T) string {
	t.Helper()
	secret, err := consulacl.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// consulGet is a GET of the Consul API with the management token.
func consulGet(url string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Consul-Token", managementToken)
	return httpClient.Do(req)
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// leader is the leader's address as a server other than skip sees it ("" when none).
func (c *consulCluster) leader(skip string) string {
	for node, h := range c.servers {
		if node == skip {
			continue
		}
		rsp, err := consulGet("http://" + h.IP + ":8500/v1/status/leader")
		if err != nil {
			continue
		}
		var leader string
		json.NewDecoder(rsp.Body).Decode(&leader)
		rsp.Body.Close()
		if leader != "" {
			return leader
		}
	}
	return ""
}

// leaderNode is the node name of the current leader.
func (c *consulCluster) leaderNode() string {
	leader := c.leader("")
	for node, h := range c.servers {
		if strings.HasPrefix(leader, h.IP+":") {
			return node
		}
	}
	return ""
}

// alive counts the members in state alive as the agent at address sees them.
func (c *consulCluster) alive(address string) int {
	rsp, err := consulGet("http://" + address + ":8500/v1/agent/members")
	if err != nil {
		return 0
	}
	defer rsp.Body.Close()
	var members []struct{ Status int }
	json.NewDecoder(rsp.Body).Decode(&members)
	n := 0
	for _, m := range members {
		if m.Status == 1 {
			n++
		}
	}
	return n
}

// register puts service id of name on the agent of host with a TTL check, passed now.
func register(t *testing.T, h *Host, name, id string) {
	t.Helper()
	body := fmt.Sprintf(`{"ID":%q,"Name":%q,"Address":%q,"Port":80,"Check":{"CheckID":"service:%s","TTL":"3s","DeregisterCriticalServiceAfter":"1m"}}`, id, name, h.IP, id)
	put(t, "http://"+h.IP+":8500/v1/agent/service/register", body)
	pass(h, id)
}

// checkClient gives up on an agent soon: a host cut off must not hold up the others' checks.
var checkClient = &http.Client{Timeout: 500 * time.Millisecond}

func pass(h *Host, id string) error {
	req, _ := http.NewRequest(http.MethodPut, "http://"+h.IP+":8500/v1/agent/check/pass/service:"+id, nil)
	req.Header.Set("X-Consul-Token", managementToken)
	rsp, err := checkClient.Do(req)
	if err != nil {
		return err
	}
	rsp.Body.Close()
	return nil
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("X-Consul-Token", managementToken)
	rsp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 {
		b, _ := io.ReadAll(rsp.Body)
		t.Fatalf("PUT %s: %d %s", url, rsp.StatusCode, b)
	}
}

// passing lists the ids of name's passing instances as the agent at address answers; stale
// reads are served by any server, as go-micro's registry reads.
func passing(address, name string, stale bool) ([]string, error) {
	url := "http://" + address + ":8500/v1/health/service/" + name + "?passing"
	if stale {
		url += "&stale"
	}
	rsp, err := consulGet(url)
	if err != nil {
		return nil, err
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 {
		b, _ := io.ReadAll(rsp.Body)
		return nil, fmt.Errorf("%d %s", rsp.StatusCode, bytes.TrimSpace(b))
	}
	var entries []struct{ Service struct{ ID string } }
	if err := json.NewDecoder(rsp.Body).Decode(&entries); err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Service.ID)
	}
	return ids, nil
}

// reader asks an agent, every 20 ms, for the passing instances of a service, counting the
// lookups that failed (an error, or no instance at all).
type reader struct {
	sent, failed atomic.Int64
	stop         chan struct{}
	wg           sync.WaitGroup
	// firstError says why the first failed lookup failed; lastFailure is when the last did.
	mu          sync.Mutex
	firstError  string
	lastFailure time.Time
}

func startReader(address, name string, stale bool) *reader {
	r := &reader{stop: make(chan struct{})}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
			r.sent.Add(1)
			if ids, err := passing(address, name, stale); err != nil || len(ids) == 0 {
				r.failed.Add(1)
				r.mu.Lock()
				if r.firstError == "" {
					r.firstError = fmt.Sprintf("%v (%d instances)", err, len(ids))
				}
				r.lastFailure = time.Now()
				r.mu.Unlock()
			}
		}
	}()
	return r
}

func (r *reader) finish() (sent, failed int64) {
	close(r.stop)
	r.wg.Wait()
	return r.sent.Load(), r.failed.Load()
}

// keepPassing passes the TTL checks of ids on their hosts every second until stop.
func keepPassing(hosts map[string]*Host, stop chan struct{}) {
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for id, h := range hosts {
					go pass(h, id)
				}
			}
		}
	}()
}

// TestConsulCluster: three Consul servers and two client agents on five hosts of their own,
// configured from deploy/consul; a service registered on each app host's own agent. It kills
// the leader, partitions an app host, and kills a whole app host, and measures how the catalog
// the services read behaves.
func TestConsulCluster(t *testing.T) {
	lab := New(t)
	c := startConsul(t, lab, 2)
	app1, app2 := c.apps[0], c.apps[1]
	register(t, app1, "probe", "probe-app1")
	register(t, app2, "probe", "probe-app2")
	stop := make(chan struct{})
	defer close(stop)
	keepPassing(map[string]*Host{"probe-app1": app1, "probe-app2": app2}, stop)
	both := func(address string) func() error {
		return func() error {
			ids, err := passing(address, "probe", false)
			if err != nil || len(ids) != 2 {
				return fmt.Errorf("passing %v (%v)", ids, err)
			}
			return nil
		}
	}
	if err := stack.Eventually(20*time.Second, 100*time.Millisecond, both(app2.IP)); err != nil {
		t.Fatalf("app2's agent does not see both instances: %v", err)
	}
	// ACLs deny by default across the cluster: without a token a host's agent shows nothing
	// and registers nothing.
	anonymous, err := httpClient.Get("http://" + app2.IP + ":8500/v1/health/service/probe?passing")
	if err != nil {
		t.Fatal(err)
	}
	var seen []json.RawMessage
	json.NewDecoder(anonymous.Body).Decode(&seen)
	anonymous.Body.Close()
	rogue, _ := http.NewRequest(http.MethodPut, "http://"+app2.IP+":8500/v1/agent/service/register", strings.NewReader(`{"Name":"probe","ID":"rogue"}`))
	refused, err := httpClient.Do(rogue)
	if err != nil {
		t.Fatal(err)
	}
	refused.Body.Close()
	if len(seen) != 0 || refused.StatusCode != http.StatusForbidden {
		t.Fatalf("without a token: %d instances seen, registration answered %d; want none and 403", len(seen), refused.StatusCode)
	}

	t.Run("the leader is killed", func(t *testing.T) {
		leader := c.leaderNode()
		stale, consistent := startReader(app1.IP, "probe", true), startReader(app1.IP, "probe", false)
		time.Sleep(time.Second) // lookups before the kill too
		killed := time.Now()
		c.procs[leader].Kill()
		var elected time.Duration
		if err := stack.Eventually(30*time.Second, 50*time.Millisecond, func() error {
			if l := c.leader(leader); l == "" || strings.HasPrefix(l, c.servers[leader].IP+":") {
				return fmt.Errorf("no new leader")
			}
			elected = time.Since(killed)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		staleSent, staleFailed := stale.finish()
		sent, failed := consistent.finish()
		t.Logf("leader %s killed: a new leader in %s; lookups through app1's agent meanwhile: stale reads %d of %d failed (the first: %s), consistent reads %d of %d failed (the first: %s)",
			leader, elected.Round(time.Millisecond), staleFailed, staleSent, stale.firstError, failed, sent, consistent.firstError)
		if elected > 15*time.Second {
			t.Errorf("a new leader took %s", elected)
		}
		// Stale reads need no leader: they may fail only while the agent still talks to the
		// dead server, and not after the election.
		if staleFailed > 0 && stale.lastFailure.After(killed.Add(elected).Add(2*time.Second)) {
			t.Errorf("stale lookups still failed %s after the kill, past the election", stale.lastFailure.Sub(killed).Round(time.Millisecond))
		}
		// Two servers of three keep the quorum; the third comes back with its data.
		c.restart(t, leader)
		if err := stack.Eventually(60*time.Second, 200*time.Millisecond, func() error {
			if n := c.alive(app1.IP); n != 5 {
				return fmt.Errorf("%d members alive", n)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an app host is partitioned", func(t *testing.T) {
		r := startReader(app2.IP, "probe", true)
		cut := time.Now()
		app1.Partition(true)
		var left, back time.Duration
		gone := func() error {
			ids, err := passing(app2.IP, "probe", true)
			if err != nil || len(ids) != 1 || ids[0] != "probe-app2" {
				return fmt.Errorf("passing %v (%v)", ids, err)
			}
			left = time.Since(cut)
			return nil
		}
		if err := stack.Eventually(60*time.Second, 100*time.Millisecond, gone); err != nil {
			t.Fatalf("the partitioned host's instance never left the passing set: %v", err)
		}
		time.Sleep(15*time.Second - time.Since(cut))
		healed := time.Now()
		app1.Partition(false)
		if err := stack.Eventually(60*time.Second, 100*time.Millisecond, func() error {
			if err := both(app2.IP)(); err != nil {
				return err
			}
			back = time.Since(healed)
			return nil
		}); err != nil {
			t.Fatalf("the healed host's instance never came back: %v", err)
		}
		sent, failed := r.finish()
		t.Logf("app1 partitioned for 15s: its instance left the passing set %s after the cut, came back %s after the heal (no restart); lookups on app2: %d of %d failed%s",
			left.Round(time.Millisecond), back.Round(time.Millisecond), failed, sent, map[bool]string{true: " (the first: " + r.firstError + ")", false: ""}[failed > 0])
		if failed != 0 {
			t.Errorf("%d lookups failed on the side that kept the quorum", failed)
		}
	})

	t.Run("an app host dies", func(t *testing.T) {
		died := time.Now()
		app2.KillAll()
		var left time.Duration
		if err := stack.Eventually(60*time.Second, 100*time.Millisecond, func() error {
			ids, err := passing(app1.IP, "probe", true)
			if err != nil || len(ids) != 1 || ids[0] != "probe-app1" {
				return fmt.Errorf("passing %v (%v)", ids, err)
			}
			left = time.Since(died)
			return nil
		}); err != nil {
			t.Fatalf("the dead host's instance never left the passing set: %v", err)
		}
		t.Logf("app2 killed with its agent: its instance left the passing set after %s", left.Round(time.Millisecond))
	})
}
