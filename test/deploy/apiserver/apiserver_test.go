// Package apiserver applies the Kubernetes overlays to a real API server (etcd and
// kube-apiserver on loopback, kubectl with its own kustomize), as an operator does: namespace
// and secrets first, a server-side dry run, the apply, the same apply again (nothing changes),
// the apply after an autoscaler's change of a count, then an upgrade (a new image tag; for dev a
// changed secret too) that must apply cleanly.
// make k8s-test builds the three binaries from the module proxy and runs it with K8S_TEST=1
// and K8S_BIN naming their folder.
package apiserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOverlaysApplyAndUpgrade(t *testing.T) {
	recap(t)
	if os.Getenv("K8S_TEST") != "1" {
		t.Skip("make k8s-test runs this (it needs etcd, kube-apiserver and kubectl: scripts/build-kubernetes.sh)")
	}
	bin := os.Getenv("K8S_BIN")
	root, err := filepath.Abs("../../..")
	if err != nil {
		fatal(t, err)
	}
	began := time.Now()
	kubeconfig := startControlPlane(t, bin, "127.0.0.1")
	t.Logf("TIMING etcd and kube-apiserver ready: %s", since(began))
	kubectl := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := kubectl(args...)
		if err != nil {
			fatalf(t, "kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	t.Logf("%s", strings.TrimSpace(must("version")))

	for _, overlay := range []string{"dev", "prod"} {
		t.Run(overlay, func(t *testing.T) {
			// The operator's copy of deploy/kubernetes: the files an upgrade edits.
			copyDir := filepath.Join(t.TempDir(), "kubernetes")
			if err := os.CopyFS(copyDir, os.DirFS(filepath.Join(root, "deploy/kubernetes"))); err != nil {
				fatal(t, err)
			}
			dir := filepath.Join(copyDir, "overlays", overlay)
			namespace := map[string]string{"dev": "gomicro-dev", "prod": "gomicro"}[overlay]
			secrets := secretValues(t)
			// What an operator makes first: the namespace, and the secrets (dev: secret.env from
			// its example; prod: the Secret in the cluster).
			must("create", "namespace", namespace)
			switch overlay {
			case "dev":
				writeSecretEnv(t, dir, secrets)
			case "prod":
				var args []string
				for k, v := range secrets {
					args = append(args, "--from-literal="+k+"="+v)
				}
				must(append([]string{"-n", namespace, "create", "secret", "generic", "gomicro-secrets"}, args...)...)
			}

			apply := []string{"apply", "-k", dir, "--server-side", "--validate=strict"}
			must(append(apply, "--dry-run=server")...)
			began := time.Now()
			out := must(apply...)
			applied := strings.Count(out, "serverside-applied")
			t.Logf("TIMING %d objects applied in %s", applied, since(began))
			before := versions(t, must("get", "-k", dir, "-o", "json"))
			if len(before) != applied || applied < 25 {
				fatalf(t, "%d objects applied, %d found by kubectl get -k:\n%s", applied, len(before), out)
			}
			// The same apply again changes nothing: no object gets a new resourceVersion.
			must(apply...)
			if after := versions(t, must("get", "-k", dir, "-o", "json")); !equal(before, after) {
				fatalf(t, "applying the same overlay again changed objects:\n%s", differences(before, after))
			}

			// An autoscaler changes .spec.replicas through the scale subresource, as kubectl
			// scale does; the overlay must leave that field to it, or the next apply stops on the
			// conflict.
			for _, name := range []string{"user", "greeter", "gateway"} {
				must("-n", namespace, "scale", "deployment/"+name, "--replicas=4")
			}
			if out, err := kubectl(apply...); err != nil {
				fatalf(t, "an apply after an autoscaler's change: %v\n%s", err, out)
			}

			// An upgrade: a new image tag for every image of ours, and for dev a new value of a
			// secret (kustomize names the generated Secret after its content, so every pod
			// template that reads it changes).
			setImageTag(t, dir, "0.2.0")
			if overlay == "dev" {
				secrets["JWT_SECRET"] = hex.EncodeToString(randomBytes(t, 32))
				writeSecretEnv(t, dir, secrets)
			}
			began = time.Now()
			if out, err := kubectl(apply...); err != nil {
				fatalf(t, "the upgrade does not apply: %v\n%s", err, out)
			}
			t.Logf("TIMING the upgrade applied in %s", since(began))
			images := must("-n", namespace, "get", "deployments,statefulsets", "-o", `jsonpath={range .items[*]}{.metadata.name}={.spec.template.spec.containers[0].image}{"\n"}{end}`)
			for _, line := range strings.Split(strings.TrimSpace(images), "\n") {
				name, image, _ := strings.Cut(line, "=")
				if strings.Contains(image, "gomicro-stack/") && !strings.HasSuffix(image, ":0.2.0") {
					errorf(t, "after the upgrade %s runs %s", name, image)
				}
			}
			everything := versions(t, must("get", "-k", dir, "-o", "json"))
			if len(everything) != len(before) {
				errorf(t, "after the upgrade kubectl get -k finds %d objects, %d before", len(everything), len(before))
			}
			t.Logf("kubectl get -k %s: %s", overlay, strings.Join(keys(everything), ", "))
		})
	}
}

// startControlPlane starts etcd (on loopback) and kube-apiserver (on address) and returns a
// kubeconfig for an admin (a static token in system:masters; authorization by RBAC); extra
// are more of the apiserver's flags.
func startControlPlane(t *testing.T, bin, address string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	client, peer, secure := freePort(t), freePort(t), freePort(t)
	start(t, filepath.Join(bin, "etcd"), "--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls=http://127.0.0.1:"+strconv.Itoa(client), "--advertise-client-urls=http://127.0.0.1:"+strconv.Itoa(client),
		"--listen-peer-urls=http://127.0.0.1:"+strconv.Itoa(peer), "--initial-advertise-peer-urls=http://127.0.0.1:"+strconv.Itoa(peer),
		"--initial-cluster=test=http://127.0.0.1:"+strconv.Itoa(peer), "--log-level=warn")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fatal(t, err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	write(t, filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	write(t, filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	token := hex.EncodeToString(randomBytes(t, 16))
	write(t, filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"))
	start(t, filepath.Join(bin, "kube-apiserver"), append([]string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(client),
		"--bind-address=" + address, "--advertise-address=" + address, "--secure-port=" + strconv.Itoa(secure),
		// On loopback the apiserver cannot publish itself as the kubernetes Service's endpoint.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"), "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"), "--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16"}, extra...)...)

	server := "https://" + net.JoinHostPort(address, strconv.Itoa(secure))
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest("GET", server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rsp, err := hc.Do(req)
		if err == nil {
			rsp.Body.Close()
			if rsp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			fatalf(t, "kube-apiserver not ready within 60s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	write(t, kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
current-context: test
`, server, token)))
	return kubeconfig
}

// start runs a binary until the test ends; its output is shown if the test fails.
func start(t *testing.T, bin string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		fatal(t, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output (last part):\n%s", filepath.Base(bin), tail(out.String(), 3000))
		}
	})
}

// secretValues are the Secret's keys as secret.env.example lists them, with fresh values.
func secretValues(t *testing.T) map[string]string {
	t.Helper()
	priv := randomBytes(t, 32)
	values := map[string]string{
		"JWT_SECRET":                hex.EncodeToString(randomBytes(t, 32)),
		"INTERNAL_AUTH_PRIVATE_KEY": hex.EncodeToString(priv),
		"INTERNAL_AUTH_PUBLIC_KEYS": hex.EncodeToString(priv[:16]),
		"POSTGRES_PASSWORD":         hex.EncodeToString(randomBytes(t, 12)),
	}
	values["DATABASE_DSN"] = "postgres://gomicro:" + values["POSTGRES_PASSWORD"] + "@postgres:5432/gomicro?sslmode=disable"
	for _, key := range []string{"CONSUL_MANAGEMENT_TOKEN", "CONSUL_TOKEN_CONFIGSERVER", "CONSUL_TOKEN_USER", "CONSUL_TOKEN_GREETER", "CONSUL_TOKEN_GATEWAY", "CONSUL_TOKEN_READER"} {
		values[key] = uuid(t)
	}
	return values
}

// writeSecretEnv writes the dev overlay's secret.env: every key its example names, valued.
func writeSecretEnv(t *testing.T, dir string, values map[string]string) {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(dir, "secret.env.example"))
	if err != nil {
		fatal(t, err)
	}
	var out strings.Builder
	for _, line := range strings.Split(string(example), "\n") {
		key, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, known := values[key]
		if !known { // the token of a service make service added
			v = uuid(t)
			values[key] = v
		}
		fmt.Fprintf(&out, "%s=%s\n", key, v)
	}
	write(t, filepath.Join(dir, "secret.env"), []byte(out.String()))
}

// setImageTag gives every image of ours tag, as an operator edits the overlay's images.
func setImageTag(t *testing.T, dir, tag string) {
	t.Helper()
	file := filepath.Join(dir, "kustomization.yaml")
	text, err := os.ReadFile(file)
	if err != nil {
		fatal(t, err)
	}
	s := string(text)
	if strings.Contains(s, "\nimages:\n") {
		s = regexp.MustCompile(`(?m)^(\s+newTag:) \S+$`).ReplaceAllString(s, "$1 "+tag)
	} else {
		var images []string
		for _, name := range ourImages(t, filepath.Join(dir, "../../base")) {
			images = append(images, fmt.Sprintf("  - name: %s\n    newTag: %s\n", name, tag))
		}
		s += "images:\n" + strings.Join(images, "")
	}
	write(t, file, []byte(s))
}

// ourImages are the gomicro-stack/* images the base's manifests name.
func ourImages(t *testing.T, base string) []string {
	t.Helper()
	seen := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(base, "*.yaml"))
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			fatal(t, err)
		}
		for _, m := range regexp.MustCompile(`image: (gomicro-stack/[a-z0-9-]+):`).FindAllStringSubmatch(string(text), -1) {
			seen[m[1]] = true
		}
	}
	return keys(seen)
}

// versions maps each object of a kubectl get -o json list to its resourceVersion.
func versions(t *testing.T, list string) map[string]string {
	t.Helper()
	var l struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name            string `json:"name"`
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(list), &l); err != nil {
		fatalf(t, "%v: %s", err, tail(list, 500))
	}
	out := map[string]string{}
	for _, i := range l.Items {
		out[i.Kind+"/"+i.Metadata.Name] = i.Metadata.ResourceVersion
	}
	return out
}

func equal(a, b map[string]string) bool { return differences(a, b) == "" }

func differences(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, v, b[k]))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+": new")
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func uuid(t *testing.T) string {
	b := randomBytes(t, 16)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		fatal(t, err)
	}
	return b
}

func write(t *testing.T, file string, content []byte) {
	t.Helper()
	if err := os.WriteFile(file, content, 0o600); err != nil {
		fatal(t, err)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(t, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// said is every failure of the test, said again at its very end (recap): a failure makes each
// process dump its output as the test cleans up, and CI shows the end of a log.
var said struct {
	sync.Mutex
	failures []string
}

// recap says the test's failures again once everything else is cleaned up.
func recap(t *testing.T) {
	t.Cleanup(func() {
		said.Lock()
		defer said.Unlock()
		if len(said.failures) > 0 {
			t.Logf("what failed, again:\n  %s", strings.Join(said.failures, "\n  "))
		}
	})
}

func remember(message string) {
	said.Lock()
	said.failures = append(said.failures, message)
	said.Unlock()
}

func errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	message := fmt.Sprintf(format, args...)
	remember(message)
	t.Error(message)
}

func fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	message := fmt.Sprintf(format, args...)
	remember(message)
	t.Fatal(message)
}

func fatal(t testing.TB, args ...any) {
	t.Helper()
	message := fmt.Sprint(args...)
	remember(message)
	t.Fatal(message)
}
