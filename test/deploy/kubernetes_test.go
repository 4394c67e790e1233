package deploy

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// manifests is one overlay, rendered and decoded strictly into k8s.io/api types.
type manifests struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	jobs         []batchv1.Job
	services     map[string]corev1.Service
	configMaps   []corev1.ConfigMap
	secrets      []corev1.Secret
	pdbs         map[string]policyv1.PodDisruptionBudget
	hpas         map[string]autoscalingv2.HorizontalPodAutoscaler
	namespaces   []corev1.Namespace
	policies     []networkingv1.NetworkPolicy
}

// decodeStrict fails on any field the type does not have: a typo in a manifest is an error.
func decodeStrict(doc []byte, into any) error {
	return yaml.UnmarshalStrict(doc, into)
}

func render(t *testing.T, overlay string) manifests {
	t.Helper()
	out, err := Render(filepath.Join(repoRoot, "deploy", "kubernetes", "overlays", overlay))
	if err != nil {
		t.Fatal(err)
	}
	m := manifests{services: map[string]corev1.Service{}, pdbs: map[string]policyv1.PodDisruptionBudget{},
		hpas: map[string]autoscalingv2.HorizontalPodAutoscaler{}}
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		id := head.APIVersion + " " + head.Kind
		var err error
		switch id {
		case "apps/v1 Deployment":
			var d appsv1.Deployment
			err = decodeStrict(doc, &d)
			m.deployments = append(m.deployments, d)
		case "apps/v1 StatefulSet":
			var s appsv1.StatefulSet
			err = decodeStrict(doc, &s)
			m.statefulSets = append(m.statefulSets, s)
		case "batch/v1 Job":
			var j batchv1.Job
			err = decodeStrict(doc, &j)
			m.jobs = append(m.jobs, j)
		case "v1 Service":
			var s corev1.Service
			err = decodeStrict(doc, &s)
			m.services[s.Name] = s
		case "v1 ConfigMap":
			var c corev1.ConfigMap
			err = decodeStrict(doc, &c)
			m.configMaps = append(m.configMaps, c)
		case "v1 Secret":
			var s corev1.Secret
			err = decodeStrict(doc, &s)
			m.secrets = append(m.secrets, s)
		case "networking.k8s.io/v1 NetworkPolicy":
			var p networkingv1.NetworkPolicy
			err = decodeStrict(doc, &p)
			m.policies = append(m.policies, p)
		case "v1 Namespace":
			var n corev1.Namespace
			err = decodeStrict(doc, &n)
			m.namespaces = append(m.namespaces, n)
		case "policy/v1 PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			err = decodeStrict(doc, &p)
			m.pdbs[p.Name] = p
		case "autoscaling/v2 HorizontalPodAutoscaler":
			var h autoscalingv2.HorizontalPodAutoscaler
			err = decodeStrict(doc, &h)
			m.hpas[h.Name] = h
		default:
			t.Fatalf("%s %s: a kind this test does not check", id, head.Metadata.Name)
		}
		if err != nil {
			t.Fatalf("%s %s does not decode strictly: %v", id, head.Metadata.Name, err)
		}
	}
	return m
}

// imageBinary is the binary an image of ours runs ("" for others).
func imageBinary(image string) string {
	name, _, _ := strings.Cut(image, ":")
	if i := strings.Index(name, "gomicro-stack/"); i >= 0 {
		return name[i+len("gomicro-stack/"):]
	}
	return ""
}

func checkPod(t *testing.T, kind, name string, pod corev1.PodSpec, env map[string]string) {
	t.Helper()
	for _, c := range pod.Containers {
		where := fmt.Sprintf("%s %s container %s", kind, name, c.Name)
		if kind != "Job" && (c.ReadinessProbe == nil || c.LivenessProbe == nil) {
			t.Errorf("%s: readiness and liveness probes are required", where)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("%s: no %s limit", where, r)
			}
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", where, r)
			}
		}
		nonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
		if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
			nonRoot = *c.SecurityContext.RunAsNonRoot
		}
		if !nonRoot {
			t.Errorf("%s: must run as non-root", where)
		}
		if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s: must forbid privilege escalation", where)
		}
		if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
			t.Errorf("%s: image %s is not pinned", where, c.Image)
		}
		// One source of truth: every variable given to one of our binaries is one it reads.
		if binary := imageBinary(c.Image); binary != "" {
			vars := []string{}
			for _, e := range c.Env {
				vars = append(vars, e.Name)
			}
			for _, from := range c.EnvFrom {
				if from.ConfigMapRef != nil {
					for k := range env {
						vars = append(vars, k)
					}
				}
			}
			for _, v := range vars {
				if _, ok := settings[binary][v]; !ok && v != "HOME" {
					t.Errorf("%s: %s is not a setting of %s", where, v, binary)
				}
			}
		}
	}
}

func TestKubernetesOverlays(t *testing.T) {
	for _, overlay := range []string{"dev", "prod"} {
		t.Run(overlay, func(t *testing.T) {
			m := render(t, overlay)
			env := map[string]string{}
			for _, c := range m.configMaps {
				if strings.HasPrefix(c.Name, "gomicro-env") {
					env = c.Data
				}
			}
			if env["PROFILE"] != overlay {
				t.Errorf("PROFILE is %q, want %q", env["PROFILE"], overlay)
			}
			names := map[string]bool{}
			for _, d := range m.deployments {
				names[d.Name] = true
				checkPod(t, "Deployment", d.Name, d.Spec.Template.Spec, env)
			}
			for _, s := range m.statefulSets {
				checkPod(t, "StatefulSet", s.Name, s.Spec.Template.Spec, env)
			}
			for _, j := range m.jobs {
				checkPod(t, "Job", j.Name, j.Spec.Template.Spec, env)
			}
			checkConsulACL(t, m)
			for _, name := range added {
				if _, ok := m.services[name]; !names[name] || !ok {
					t.Errorf("no Deployment and Service %s (make service added it)", name)
				}
			}
			for _, name := range []string{"config-server", "user", "greeter", "gateway"} {
				if !names[name] {
					t.Errorf("no Deployment %s", name)
				}
				if _, ok := m.services[name]; !ok {
					t.Errorf("no Service %s", name)
				}
				if _, ok := m.pdbs[name]; !ok {
					t.Errorf("no PodDisruptionBudget %s", name)
				}
			}
			for _, name := range []string{"user", "greeter", "gateway"} {
				h, ok := m.hpas[name]
				if !ok || h.Spec.ScaleTargetRef.Name != name || h.Spec.MaxReplicas < 2 {
					t.Errorf("no HorizontalPodAutoscaler for %s", name)
				}
			}
			if _, ok := m.services["consul"]; !ok {
				t.Error("no consul Service")
			}
			// Every binary sends its spans to the jaeger Service.
			if _, ok := m.services["jaeger"]; !ok || !names["jaeger"] || env["TRACING_ENDPOINT"] != "jaeger:4318" {
				t.Errorf("no jaeger Deployment and Service, or TRACING_ENDPOINT %q in gomicro-env is not jaeger:4318", env["TRACING_ENDPOINT"])
			}
			checkNetworkPolicies(t, m)
			// A LoadBalancer in front of the gateways must keep client addresses, or the
			// per-address limits count everyone behind a node as one client.
			if gw := m.services["gateway"]; gw.Spec.Type == corev1.ServiceTypeLoadBalancer && gw.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
				t.Errorf("gateway LoadBalancer with externalTrafficPolicy %q, want Local", gw.Spec.ExternalTrafficPolicy)
			}
			hasSecret := false
			for _, s := range m.secrets {
				hasSecret = hasSecret || strings.HasPrefix(s.Name, "gomicro-secrets")
			}
			// dev generates the Secret from secret.env; prod expects it in the cluster.
			if hasSecret != (overlay == "dev") {
				t.Errorf("gomicro-secrets generated: %v", hasSecret)
			}
			if len(m.namespaces) != 1 {
				t.Errorf("want one Namespace, got %d", len(m.namespaces))
			}
		})
	}
}

// checkConsulACL: Consul runs with ACLs on and deny by default, the consul-acl Deployment gives
// out the tokens, and every service of ours sends its own.
func checkConsulACL(t *testing.T, m manifests) {
	t.Helper()
	for _, s := range m.statefulSets {
		if s.Name == "consul" {
			args := strings.Join(s.Spec.Template.Spec.Containers[0].Args, " ")
			if !strings.Contains(args, "enabled = true") || !strings.Contains(args, `default_policy = "deny"`) || !strings.Contains(args, "$(CONSUL_MANAGEMENT_TOKEN)") {
				t.Errorf("consul must run with ACLs on, deny by default, its management token from the Secret: %s", args)
			}
		}
	}
	// consul-acl is a Deployment that keeps applying the tokens: a Job's pod template cannot
	// change, so an upgrade (a new image, a renamed generated Secret) would fail to apply.
	acl := false
	for _, d := range m.deployments {
		if d.Name != "consul-acl" {
			continue
		}
		acl = imageBinary(d.Spec.Template.Spec.Containers[0].Image) == "consul-acl"
		env := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if env["CONSUL_EVERY"] == "" {
			t.Error("consul-acl must keep running (CONSUL_EVERY)")
		}
	}
	if !acl || len(m.jobs) > 0 {
		t.Errorf("want the Deployment consul-acl and no Job (a Job cannot be upgraded by apply): %d jobs", len(m.jobs))
	}
	for _, d := range m.deployments {
		c := d.Spec.Template.Spec.Containers[0]
		if imageBinary(c.Image) == "" || d.Name == "consul-acl" {
			continue
		}
		token := false
		for _, e := range c.Env {
			token = token || (e.Name == "REGISTRY_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil)
		}
		if !token {
			t.Errorf("Deployment %s sends no Consul token (REGISTRY_TOKEN from the Secret)", d.Name)
		}
	}
}

func TestStrictDecodingCatchesTypos(t *testing.T) {
	var d appsv1.Deployment
	if err := decodeStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n"), &d); err == nil {
		t.Fatal("an unknown field must fail")
	}
}

// checkNetworkPolicies: ingress is denied by default, and the gRPC port of user and greeter,
// the config server and Consul's API are reachable only from the pods that need them.
func checkNetworkPolicies(t *testing.T, m manifests) {
	t.Helper()
	denyAll := false
	for _, p := range m.policies {
		if len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			len(p.Spec.Ingress) == 0 && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			denyAll = true
		}
	}
	if !denyAll {
		t.Error("no NetworkPolicy denies ingress by default")
	}
	for _, tc := range []struct {
		pod     string
		port    int32
		callers []string
	}{
		{"user", 9090, []string{"gateway", "greeter", "user"}}, // user: events from other instances (http broker)
		{"greeter", 9090, []string{"gateway", "user"}},         // user: events through the http broker
		// and the services make service added, as clients of these three.
		{"config-server", 8888, append([]string{"gateway", "greeter", "user"}, added...)},
		{"consul", 8500, append([]string{"gateway", "greeter", "user", "config-server", "consul-acl"}, added...)},
		{"jaeger", 4318, append([]string{"gateway", "greeter", "user", "config-server"}, added...)},
	} {
		reachable := false
		for _, p := range m.policies {
			if p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != tc.pod {
				continue
			}
			for _, rule := range p.Spec.Ingress {
				if !coversPort(rule.Ports, tc.port) {
					continue
				}
				reachable = true
				if len(rule.From) == 0 {
					t.Errorf("%s: port %d is open to everyone (%s)", tc.pod, tc.port, p.Name)
				}
				for _, peer := range rule.From {
					name := ""
					if peer.PodSelector != nil {
						name = peer.PodSelector.MatchLabels["app.kubernetes.io/name"]
					}
					if peer.IPBlock != nil || peer.NamespaceSelector != nil || !slices.Contains(tc.callers, name) {
						t.Errorf("%s: port %d is open to %+v (%s); only %v may call it", tc.pod, tc.port, peer, p.Name, tc.callers)
					}
				}
			}
		}
		if !reachable {
			t.Errorf("%s: no NetworkPolicy lets %v reach port %d", tc.pod, tc.callers, tc.port)
		}
	}
}

// coversPort says whether a rule's ports include port (no ports: every port).
func coversPort(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port != nil && p.Port.IntValue() == int(port) {
			return true
		}
	}
	return false
}
