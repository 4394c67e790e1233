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
	return root
}

func TestWritesAServiceOnce(t *testing.T) {
	root := newRoot(t)
	if err := write(root, "order"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"proto/order/order.proto", "service/order/main.go", "service/order/handler/handler.go",
		"service/order/domain/domain.go", "service/order/domain/domain_test.go", "config-repo/order.yml"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	main, _ := os.ReadFile(filepath.Join(root, "service/order/main.go"))
	if !strings.Contains(string(main), `"example.com/shop/proto/order"`) {
		t.Errorf("main.go does not import the module's proto package:\n%s", main)
	}
	names, _ := os.ReadFile(filepath.Join(root, "internal/names/names.go"))
	if !strings.Contains(string(names), "\t\"order\",\n"+marker) {
		t.Errorf("names.Added has no order before the marker:\n%s", names)
	}
	if err := write(root, "order"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second order: %v", err)
	}
}

func TestRefusesBadNames(t *testing.T) {
	root := newRoot(t)
	for _, name := range []string{"", "Order", "o", "9lives", "order-items", "order.items", "user", "gateway", strings.Repeat("a", 32), "../x"} {
		if err := write(root, name); err == nil {
			t.Errorf("%q was accepted", name)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Fatalf("refused names wrote files: %v", entries)
	}
}
