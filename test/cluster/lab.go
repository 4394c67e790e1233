// Package cluster builds a small data centre on one Linux machine for the multi-host tests: one
// network namespace per host, all joined to a bridge that lives in a namespace of its own, and
// one veth into it from the test's own namespace, so that the test reaches every host while
// nothing of the machine's own network is touched. Everything it creates is named gms-… and is
// deleted when the test ends, or at the next start after a killed run.
package cluster

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	prefix = "gms-"
	// subnet holds every address of the lab: hosts .1 to .99, the test itself .254.
	subnet    = "10.77.0."
	switchNS  = prefix + "switch"
	rootVeth  = prefix + "root"
	rootPeer  = prefix + "root-br"
	testAddr  = subnet + "254"
	maskBits  = "/24"
	stopGrace = 5 * time.Second
)

// Lab is the data centre: its hosts and the processes running on them.
type Lab struct {
	t     *testing.T
	mu    sync.Mutex
	hosts []*Host
	procs []*Proc
}

// Host is one network namespace with one address on the lab's bridge.
type Host struct {
	lab        *Lab
	Name, NS   string
	IP         string
	hostVeth   string // inside the host
	switchVeth string // its peer on the bridge
}

// ip runs iproute2 with args, failing the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// New builds the bridge and the test's way into it. Without root (or iproute2) the test is
// skipped, but never in CI, which runs as root.
func New(t *testing.T) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the cluster test needs root (network namespaces)")
		}
		t.Skip("NOTICE: not root: the multi-host cluster test is skipped")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("iproute2 (ip) is missing")
	}
	removeLeftovers()
	l := &Lab{t: t}
	t.Cleanup(l.teardown)
	ip(t, "netns", "add", switchNS)
	ip(t, "-n", switchNS, "link", "add", "br0", "type", "bridge")
	ip(t, "-n", switchNS, "link", "set", "br0", "up")
	ip(t, "link", "add", rootVeth, "type", "veth", "peer", "name", rootPeer)
	ip(t, "link", "set", rootPeer, "netns", switchNS)
	ip(t, "-n", switchNS, "link", "set", rootPeer, "master", "br0", "up")
	ip(t, "addr", "add", testAddr+maskBits, "dev", rootVeth)
	ip(t, "link", "set", rootVeth, "up")
	return l
}

// removeLeftovers deletes what a killed run left: its namespaces (with their processes) and
// its veth.
func removeLeftovers() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); strings.HasPrefix(name, prefix) {
			killAll(name)
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
	exec.Command("ip", "link", "del", rootVeth).Run()
}

// killAll kills every process in namespace ns.
func killAll(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
}

func (l *Lab) teardown() {
	l.mu.Lock()
	procs := append([]*Proc(nil), l.procs...)
	hosts := append([]*Host(nil), l.hosts...)
	l.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for _, h := range hosts {
		killAll(h.NS)
		exec.Command("ip", "netns", "del", h.NS).Run()
	}
	exec.Command("ip", "link", "del", rootVeth).Run()
	exec.Command("ip", "netns", "del", switchNS).Run()
}

// AddHost makes host name with address subnet+n.
func (l *Lab) AddHost(name string, n int) *Host {
	t := l.t
	t.Helper()
	h := &Host{lab: l, Name: name, NS: prefix + name, IP: fmt.Sprintf("%s%d", subnet, n),
		hostVeth: fmt.Sprintf("gms%d", n), switchVeth: fmt.Sprintf("gms%d-br", n)}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	ip(t, "netns", "add", h.NS)
	ip(t, "-n", h.NS, "link", "set", "lo", "up")
	ip(t, "link", "add", h.hostVeth, "type", "veth", "peer", "name", h.switchVeth)
	ip(t, "link", "set", h.hostVeth, "netns", h.NS)
	ip(t, "link", "set", h.switchVeth, "netns", switchNS)
	ip(t, "-n", switchNS, "link", "set", h.switchVeth, "master", "br0", "up")
	ip(t, "-n", h.NS, "addr", "add", h.IP+maskBits, "dev", h.hostVeth)
	ip(t, "-n", h.NS, "link", "set", h.hostVeth, "up")
	return h
}

// Partition cuts the host off the bridge (its cable pulled), or puts it back.
func (h *Host) Partition(cut bool) {
	state := "up"
	if cut {
		state = "down"
	}
	ip(h.lab.t, "-n", switchNS, "link", "set", h.switchVeth, state)
}

// KillAll kills every process of the host at once, as a host that loses power.
func (h *Host) KillAll() { killAll(h.NS) }

// Proc is a process running on a host.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs bin with args on the host; its output goes to the test log, prefixed with name.
func (h *Host) Start(name, bin string, args ...string) *Proc {
	h.lab.t.Helper()
	return h.StartEnv(name, nil, bin, args...)
}

// StartEnv is Start with env added to the test's environment.
func (h *Host) StartEnv(name string, env []string, bin string, args ...string) *Proc {
	t := h.lab.t
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s on %s: %v", name, h.Name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		copyLines(name, out)
		cmd.Wait()
		close(p.done)
	}()
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, p)
	h.lab.mu.Unlock()
	return p
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill kills the process (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopGrace):
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

var logMu sync.Mutex

func copyLines(name string, r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		logMu.Lock()
		fmt.Fprintf(os.Stderr, "%-8s| %s\n", name, s.Text())
		logMu.Unlock()
	}
}
