package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The node: a network namespace of the test's, joined to the host by a veth pair. Pods get
// addresses on a bridge inside it; the host reaches the pods and the Services through it.
const (
	nodeNS, hostVeth, nodeVeth = "gmk-node", "gmk-host", "gmk-node0"
	hostIP, nodeIP             = "10.200.0.1", "10.200.0.2"
	podCIDR, serviceCIDR       = "10.244.0.0/24", "10.96.0.0/16"
	// dnsIP is the pod bridge's own address, where the cluster DNS listens.
	dnsIP = "10.244.0.1"
)

// TestSystemRunsInPods runs the dev overlay for real: a control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler), a node (containerd with its CRI, a CNI bridge,
// kubelet, kube-proxy) in a network namespace, CoreDNS as the cluster DNS, and the project's
// images (built from its Dockerfile; the compose test's stand-ins for what no registry gives)
// imported into containerd. Every pod Ready; register, login and hello through the gateway's
// Service; a user pod deleted under load; an upgrade by image tag under load. make k8s-e2e
// prepares all of it and runs this with K8S_E2E=1.
func TestSystemRunsInPods(t *testing.T) {
	recap(t)
	if os.Getenv("K8S_E2E") != "1" {
		t.Skip("make k8s-e2e runs this (as root: network namespaces, containerd, kubelet)")
	}
	bin, coredns, images := os.Getenv("K8S_BIN"), os.Getenv("COREDNS_BIN"), os.Getenv("K8S_IMAGES")
	root, err := filepath.Abs("../../..")
	if err != nil {
		fatal(t, err)
	}
	began := time.Now()
	makeNode(t)
	kubeconfig := startControlPlane(t, bin, hostIP, "--kubelet-preferred-address-types=InternalIP")
	dir := filepath.Dir(kubeconfig)
	start(t, filepath.Join(bin, "kube-controller-manager"), "--kubeconfig="+kubeconfig, "--leader-elect=false",
		"--service-account-private-key-file="+filepath.Join(dir, "sa.key"), "--root-ca-file="+filepath.Join(dir, "certs/apiserver.crt"),
		"--service-cluster-ip-range="+serviceCIDR, "--use-service-account-credentials=false")
	start(t, filepath.Join(bin, "kube-scheduler"), "--kubeconfig="+kubeconfig, "--leader-elect=false")
	socket := startContainerd(t, dir)
	importImages(t, socket, strings.Fields(images))
	startKubelet(t, bin, dir, kubeconfig, socket)
	inNode(t, filepath.Join(bin, "kube-proxy"), "--kubeconfig="+kubeconfig, "--hostname-override="+nodeNS,
		"--masquerade-all", "--cluster-cidr="+podCIDR, "--proxy-mode=iptables",
		// The node's conntrack table is the host's: kube-proxy must not resize it.
		"--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0")
	corefile := filepath.Join(dir, "Corefile")
	write(t, corefile, []byte(fmt.Sprintf(".:53 {\n  bind %s\n  errors\n  kubernetes cluster.local in-addr.arpa ip6.arpa {\n    kubeconfig %s test\n    fallthrough in-addr.arpa ip6.arpa\n  }\n  cache 5\n}\n", dnsIP, kubeconfig)))
	inNode(t, coredns, "-conf", corefile)
	kubectl := kubectlOf(t, bin, kubeconfig)
	deadline := time.Now().Add(60 * time.Second)
	for exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", kubeconfig, "get", "node", nodeNS).Run() != nil {
		if time.Now().After(deadline) {
			fatal(t, "the kubelet registered no node within 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	kubectl("wait", "--for=condition=Ready", "node/"+nodeNS, "--timeout=120s")
	t.Logf("TIMING control plane and node Ready: %s", since(began))

	// Storage: the StatefulSets' claims (Consul, PostgreSQL) bind to host folders.
	for _, name := range []string{"a", "b"} {
		path := filepath.Join(dir, "volumes", name)
		if err := os.MkdirAll(path, 0o777); err != nil {
			fatal(t, err)
		}
		os.Chmod(path, 0o777)
		apply(t, kubectl, fmt.Sprintf(`{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"local-%s"},
			"spec":{"capacity":{"storage":"5Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":%q}}}`, name, path))
	}

	// The dev overlay as an operator applies it, but for the config server: the pods reach no
	// git host, so it reads config-repo/ from the node.
	overlay := devOverlay(t, root)
	kubectl("create", "namespace", "gomicro-dev")
	began = time.Now()
	kubectl("apply", "-k", overlay, "--server-side")
	kubectl("-n", "gomicro-dev", "wait", "--for=condition=Available", "deployments", "--all", "--timeout=300s")
	kubectl("-n", "gomicro-dev", "wait", "--for=condition=Ready", "pods", "--all", "--timeout=300s")
	t.Logf("TIMING every pod Ready %s after the apply:\n%s", since(began), kubectl("-n", "gomicro-dev", "get", "pods", "-o", "wide"))

	gateway := "http://" + strings.TrimSpace(kubectl("-n", "gomicro-dev", "get", "service", "gateway", "-o", `jsonpath={.spec.clusterIP}:{.spec.ports[0].port}`))
	c := &user{t: t, base: gateway}
	// The gateway learns the user service's routes from the registry, moments after both are
	// Ready: until then the route is 404.
	until := time.Now().Add(60 * time.Second)
	for {
		status, body := c.post("/user/register", `{"username":"pods_user","password":"pods password"}`, "")
		if status == 201 {
			break
		}
		if time.Now().After(until) || (status != 404 && status != 503 && status != 0) {
			fatalf(t, "register through the gateway's Service: %d %s", status, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.login("pods_user", "pods password")
	if status, body := c.post("/greeter/hello", `{"name":"Bob"}`, c.token); status != 200 || !strings.Contains(body, `"greeting":"Hello Bob"`) || strings.Contains(body, "degraded") {
		fatalf(t, "hello through the gateway's Service: %d %s", status, body)
	}

	// One of two user pods deleted under load: no hello fails. Two as an operator asks for
	// them: the autoscaler's minimum, in the overlay (kubectl scale would own .spec.replicas,
	// and the next apply would stop on that conflict).
	setMinReplicas(t, overlay, "user", 2)
	kubectl("apply", "-k", overlay, "--server-side")
	deadline = time.Now().Add(120 * time.Second)
	for strings.TrimSpace(kubectl("-n", "gomicro-dev", "get", "deployment", "user", "-o", "jsonpath={.status.readyReplicas}")) != "2" {
		if time.Now().After(deadline) {
			fatal(t, "the autoscaler did not bring the user service to its minimum of 2 within 120s")
		}
		time.Sleep(time.Second)
	}
	victim := strings.Fields(kubectl("-n", "gomicro-dev", "get", "pods", "-l", "app.kubernetes.io/name=user", "-o", "jsonpath={.items[0].metadata.name}"))[0]
	l := c.load(20)
	time.Sleep(2 * time.Second)
	kubectl("-n", "gomicro-dev", "delete", "pod", victim, "--wait=false")
	time.Sleep(10 * time.Second)
	sent, failed, degraded := l.stop()
	t.Logf("FIGURE a user pod deleted under load: %d hellos, %d failed, %d degraded", sent, failed, degraded)
	if failed > 0 {
		errorf(t, "%d of %d hellos failed while a user pod was deleted:\n%s", failed, sent, l.firstFailures())
	}

	// An upgrade by image tag under load: every Deployment of ours rolls to :0.2.0.
	setImageTag(t, overlay, "0.2.0")
	l = c.load(20)
	time.Sleep(2 * time.Second)
	began = time.Now()
	kubectl("apply", "-k", overlay, "--server-side")
	for _, d := range []string{"config-server", "user", "greeter", "gateway", "consul-acl"} {
		kubectl("-n", "gomicro-dev", "rollout", "status", "deployment/"+d, "--timeout=300s")
	}
	rolled := since(began)
	time.Sleep(2 * time.Second)
	sent, failed, degraded = l.stop()
	t.Logf("FIGURE an upgrade by image tag under load (rolled in %s): %d hellos, %d failed, %d degraded", rolled, sent, failed, degraded)
	if failed > 0 {
		errorf(t, "%d of %d hellos failed during the upgrade:\n%s", failed, sent, l.firstFailures())
	}
	// A rollout is done when the new pods are available; an old one may still be terminating
	// (the gateway's preStop keeps it a few seconds): those being deleted do not count.
	for _, line := range strings.Split(strings.TrimSpace(kubectl("-n", "gomicro-dev", "get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name}={.spec.containers[0].image}={.metadata.deletionTimestamp}{"\n"}{end}`)), "\n") {
		fields := strings.SplitN(line, "=", 3)
		if len(fields) == 3 && fields[2] == "" && strings.Contains(fields[1], "gomicro-stack/") && !strings.HasSuffix(fields[1], ":0.2.0") {
			errorf(t, "after the upgrade %s runs %s", fields[0], fields[1])
		}
	}
}

// makeNode makes the node's network namespace and its link to the host, and routes the pods'
// and the Services' addresses through it; all of it goes when the test ends.
func makeNode(t *testing.T) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			fatalf(t, "%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", nodeNS).Run() // a run killed before its cleanup
	exec.Command("ip", "link", "del", hostVeth).Run()
	run("ip", "netns", "add", nodeNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nodeNS).Run() })
	run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", nodeVeth)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostVeth).Run() })
	run("ip", "link", "set", nodeVeth, "netns", nodeNS)
	run("ip", "addr", "add", hostIP+"/24", "dev", hostVeth)
	run("ip", "link", "set", hostVeth, "up")
	in := []string{"ip", "netns", "exec", nodeNS}
	run(append(in, "ip", "addr", "add", nodeIP+"/24", "dev", nodeVeth)...)
	run(append(in, "ip", "link", "set", nodeVeth, "up")...)
	run(append(in, "ip", "link", "set", "lo", "up")...)
	run(append(in, "ip", "route", "add", "default", "via", hostIP)...)
	run(append(in, "sysctl", "-qw", "net.ipv4.ip_forward=1")...)
	// The pods' bridge, made before the first pod so that the cluster DNS can listen on it;
	// the CNI bridge plugin takes it as it is.
	run(append(in, "ip", "link", "add", "gmk0", "type", "bridge")...)
	run(append(in, "ip", "addr", "add", dnsIP+"/24", "dev", "gmk0")...)
	run(append(in, "ip", "link", "set", "gmk0", "up")...)
	run("ip", "route", "add", podCIDR, "via", nodeIP)
	run("ip", "route", "add", serviceCIDR, "via", nodeIP)
}

// inNode runs a binary in the node's network namespace until the test ends. nsenter, not ip
// netns exec: the latter mounts a /sys of its own, where kubelet finds no cgroups.
func inNode(t *testing.T, bin string, args ...string) {
	t.Helper()
	start(t, "nsenter", append([]string{"--net=/var/run/netns/" + nodeNS, bin}, args...)...)
}

// startContainerd starts a containerd of the test's (its own socket, root and state; the CRI
// plugin on, CNI from Debian's plugins with a bridge for the pods) and returns its socket. At the
// end every container it ran is killed and its pods' namespaces and mounts are gone.
func startContainerd(t *testing.T, dir string) string {
	t.Helper()
	socket := filepath.Join(dir, "containerd.sock")
	cni := filepath.Join(dir, "cni")
	os.MkdirAll(cni, 0o755)
	write(t, filepath.Join(cni, "10-bridge.conflist"), []byte(`{"cniVersion": "1.0.0", "name": "gmk", "plugins": [
  {"type": "bridge", "bridge": "gmk0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "`+podCIDR+`"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}`))
	config := filepath.Join(dir, "containerd.toml")
	write(t, config, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # root in this sandbox may not lower OOM scores
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(dir, "containerd/root"), filepath.Join(dir, "containerd/state"), socket, cni)))
	inNode(t, "containerd", "--config", config)
	// Cleanups run last first: this one, before containerd stops (a container outlives its
	// containerd: its shim keeps it).
	t.Cleanup(func() { stopContainers(socket, dir) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			return socket
		}
		if time.Now().After(deadline) {
			fatal(t, "containerd did not start within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopContainers kills every task of the test's containerd and removes what pods leave on the
// host: their network namespaces and mounts.
func stopContainers(socket, dir string) {
	ctr := func(args ...string) string {
		out, _ := exec.Command("ctr", append([]string{"--address", socket, "-n", "k8s.io"}, args...)...).Output()
		return string(out)
	}
	for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
		ctr("tasks", "kill", "-s", "SIGKILL", id)
	}
	time.Sleep(time.Second)
	for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
		ctr("tasks", "rm", "-f", id)
	}
	// Whatever containerd could not stop: the shims of this socket, and what they run.
	shims, _ := exec.Command("pgrep", "-f", "containerd-shim-runc-v2 .*-address "+socket).Output()
	for _, pid := range strings.Fields(string(shims)) {
		exec.Command("pkill", "-KILL", "-P", pid).Run()
		exec.Command("kill", "-KILL", pid).Run()
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, "cni-") {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var under []string
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir) {
			under = append(under, f[1])
		}
	}
	for i := len(under) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", under[i]).Run()
	}
}

// importImages puts images from the Docker engine into containerd's k8s.io namespace.
func importImages(t *testing.T, socket string, images []string) {
	t.Helper()
	began := time.Now()
	save := exec.Command("docker", append([]string{"save"}, images...)...)
	load := exec.Command("ctr", "--address", socket, "-n", "k8s.io", "images", "import", "-")
	pipe, err := save.StdoutPipe()
	if err != nil {
		fatal(t, err)
	}
	load.Stdin = pipe
	if err := save.Start(); err != nil {
		fatal(t, err)
	}
	out, err := load.CombinedOutput()
	if err != nil || save.Wait() != nil {
		fatalf(t, "import the images into containerd: %v\n%s", err, out)
	}
	t.Logf("TIMING %d images imported into containerd: %s", len(images), since(began))
}

// startKubelet starts a kubelet on the node: cgroupfs (this machine has cgroup v1, which
// kubelet 1.37 runs only when told to), the test's containerd, the cluster DNS on the bridge.
func startKubelet(t *testing.T, bin, dir, kubeconfig, socket string) {
	t.Helper()
	resolv := filepath.Join(dir, "resolv.conf")
	write(t, resolv, []byte("nameserver "+dnsIP+"\n"))
	config := filepath.Join(dir, "kubelet.yaml")
	write(t, config, []byte(fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%s
address: %s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: %s
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, socket, nodeIP, dnsIP, resolv)))
	inNode(t, filepath.Join(bin, "kubelet"), "--kubeconfig="+kubeconfig, "--config="+config, "--node-ip="+nodeIP,
		"--hostname-override="+nodeNS, "--root-dir="+filepath.Join(dir, "kubelet"), "--cert-dir="+filepath.Join(dir, "kubelet/pki"))
}

// devOverlay is a copy of deploy/kubernetes with the dev overlay's secret.env written, and the
// config server reading config-repo/ from the node's disk.
func devOverlay(t *testing.T, root string) string {
	t.Helper()
	copyDir := filepath.Join(t.TempDir(), "kubernetes")
	if err := os.CopyFS(copyDir, os.DirFS(filepath.Join(root, "deploy/kubernetes"))); err != nil {
		fatal(t, err)
	}
	dir := filepath.Join(copyDir, "overlays", "dev")
	secrets := secretValues(t)
	secrets["INTERNAL_AUTH_PRIVATE_KEY"], secrets["INTERNAL_AUTH_PUBLIC_KEYS"] = keyPair(t, root)
	secrets["DATABASE_DSN"] = "postgres://gomicro:" + secrets["POSTGRES_PASSWORD"] + "@postgres:5432/gomicro?sslmode=disable"
	writeSecretEnv(t, dir, secrets)
	// A strategic merge patch: the env list merges by name ($patch: delete drops an entry).
	patch := fmt.Sprintf(`
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: config-server
      spec:
        template:
          spec:
            containers:
              - name: config-server
                env:
                  - name: REPO_URI
                    value: /config-repo
                  - name: REPO_SEARCH_PATH
                    $patch: delete
                  - name: REPO_DEFAULT_LABEL
                    $patch: delete
                  - name: REPO_REFRESH_RATE
                    $patch: delete
                volumeMounts:
                  - name: repo
                    mountPath: /config-repo
                    readOnly: true
            volumes:
              - name: repo
                hostPath:
                  path: %s
                  type: Directory
`, filepath.Join(root, "config-repo"))
	file := filepath.Join(dir, "kustomization.yaml")
	text, err := os.ReadFile(file)
	if err != nil {
		fatal(t, err)
	}
	if !strings.Contains(string(text), "\npatches:\n") {
		fatal(t, "the dev overlay has no patches list to add to")
	}
	// patches is the overlay's last list: the patch goes at its end.
	write(t, file, []byte(strings.TrimRight(string(text), "\n")+patch))
	return dir
}

// keyPair is a fresh internal-auth key pair from tools/keygen.
func keyPair(t *testing.T, root string) (private, public string) {
	t.Helper()
	cmd := exec.Command("go", "run", "./tools/keygen")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		fatalf(t, "keygen: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			switch k {
			case "INTERNAL_AUTH_PRIVATE_KEY":
				private = v
			case "INTERNAL_AUTH_PUBLIC_KEYS":
				public = v
			}
		}
	}
	return private, public
}

func kubectlOf(t *testing.T, bin, kubeconfig string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			fatalf(t, "kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

func apply(t *testing.T, kubectl func(...string) string, object string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "object.json")
	write(t, file, []byte(object))
	kubectl("apply", "-f", file)
}

// user calls the gateway as a client does.
type user struct {
	t     *testing.T
	base  string
	token string
}

func (u *user) post(path, body, token string) (int, string) {
	req, err := http.NewRequest("POST", u.base+path, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(raw)
}

func (u *user) login(name, password string) {
	u.t.Helper()
	status, body := u.post("/user/login", fmt.Sprintf(`{"username":%q,"password":%q}`, name, password), "")
	_, rest, _ := strings.Cut(body, `"token":"`)
	token, _, _ := strings.Cut(rest, `"`)
	if status != 200 || token == "" {
		fatalf(u.t, "login through the gateway's Service: %d %s", status, body)
	}
	u.token = token
}

// load sends hellos at rate per second until stop.
type load struct {
	done                   chan struct{}
	wg                     sync.WaitGroup
	sent, failed, degraded atomic.Int64
	mu                     sync.Mutex
	failures               []string
}

func (u *user) load(rate int) *load {
	l := &load{done: make(chan struct{})}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer tick.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-tick.C:
				l.wg.Add(1)
				go func() {
					defer l.wg.Done()
					status, body := u.post("/greeter/hello", `{"name":"Bob"}`, u.token)
					l.sent.Add(1)
					switch {
					case status != 200:
						l.failed.Add(1)
						l.mu.Lock()
						if len(l.failures) < 5 {
							l.failures = append(l.failures, fmt.Sprintf("%d %s", status, body))
						}
						l.mu.Unlock()
					case strings.Contains(body, `"degraded":true`):
						l.degraded.Add(1)
					}
				}()
			}
		}
	}()
	return l
}

func (l *load) stop() (sent, failed, degraded int64) {
	close(l.done)
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load(), l.degraded.Load()
}

func (l *load) firstFailures() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.failures, "\n")
}

// setMinReplicas sets an autoscaler's minimum in the overlay: a patch after the overlay's own.
func setMinReplicas(t *testing.T, dir, name string, count int) {
	t.Helper()
	file := filepath.Join(dir, "kustomization.yaml")
	text, err := os.ReadFile(file)
	if err != nil {
		fatal(t, err)
	}
	// patches is the overlay's last list: the patch goes at its end.
	patch := fmt.Sprintf("\n  - target:\n      kind: HorizontalPodAutoscaler\n      name: %s\n    patch: |-\n      - op: replace\n        path: /spec/minReplicas\n        value: %d\n", name, count)
	write(t, file, []byte(strings.TrimRight(string(text), "\n")+patch))
}
