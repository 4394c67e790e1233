package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Render runs kustomize build on overlay (a folder under deploy/kubernetes/overlays), as
// `kubectl apply -k` would. A dev overlay's secret.env is never committed: when it is missing,
// its secret.env.example stands in, so the manifests can be rendered and checked anywhere.
func Render(overlay string) ([]byte, error) {
	root, err := filepath.Abs(filepath.Join(overlay, "..", ".."))
	if err != nil {
		return nil, err
	}
	overlayAbs, err := filepath.Abs(overlay)
	if err != nil {
		return nil, err
	}
	// An in-memory copy of deploy/kubernetes, so the stand-in never lands in the work tree.
	mem := filesys.MakeFsInMemory()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(path, b)
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	secret := filepath.Join(overlayAbs, "secret.env")
	if example, err := os.ReadFile(secret + ".example"); err == nil && !mem.Exists(secret) {
		if err := mem.WriteFile(secret, example); err != nil {
			return nil, err
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, overlayAbs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", overlay, err)
	}
	return resources.AsYaml()
}
