package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newRoot is a repository with what the generator reads: go.mod and internal/names/names.go.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	names, err := os.ReadFile("../../internal/names/names.go")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "internal", "names"), 0o755)
	os.WriteFile(filepath.Join(root, "internal", "names", "names.go"), names, 0o644)
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/shop\n\ngo 1.26\n"), 0o644)
	for _, in := range insertions {
		text, err := os.ReadFile(filepath.Join("../..", in.file))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(root, in.file)), 0o755)
		os.WriteFile(filepath.Join(root, in.file), text, 0o644)
	}
	return root
}

func TestWritesAServiceOnce(t *testing.T) {
	root := newRoot(t)
	if err := write(root, "unitgen"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"proto/unitgen/unitgen.proto", "service/unitgen/main.go", "service/unitgen/handler/handler.go",
		"service/unitgen/domain/domain.go", "service/unitgen/domain/domain_test.go", "config-repo/unitgen.yml"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	main, _ := os.ReadFile(filepath.Join(root, "service/unitgen/main.go"))
	if !strings.Contains(string(main), `"example.com/shop/proto/unitgen"`) {
		t.Errorf("main.go does not import the module's proto package:\n%s", main)
	}
	names, _ := os.ReadFile(filepath.Join(root, "internal/names/names.go"))
	if !strings.Contains(string(names), "\t\"unitgen\",\n"+marker) {
		t.Errorf("names.Added has no unitgen before the marker:\n%s", names)
	}
	compose, _ := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if !strings.Contains(string(compose), "  unitgen:\n    <<: *service") || !strings.Contains(string(compose), "CONSUL_TOKEN_UNITGEN: ${CONSUL_TOKEN_UNITGEN:?") {
		t.Error("docker-compose.yml has no unitgen service or token")
	}
	policies, _ := os.ReadFile(filepath.Join(root, "deploy/kubernetes/base/network-policy.yaml"))
	if n := strings.Count(string(policies), "app.kubernetes.io/name: unitgen"); n != 3 {
		t.Errorf("unitgen is a client in %d NetworkPolicies, want 3 (config server, Consul, Jaeger)", n)
	}
	if err := write(root, "unitgen"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second unitgen: %v", err)
	}
}

func TestRefusesBadNames(t *testing.T) {
	root := newRoot(t)
	for _, name := range []string{"", "Order", "o", "9lives", "order-items", "order.items", "user", "gateway", strings.Repeat("a", 32), "../x"} {
		if err := write(root, name); err == nil {
			t.Errorf("%q was accepted", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "proto")); err == nil {
		t.Fatal("a refused name wrote files")
	}
}
