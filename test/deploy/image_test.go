package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the image recipe without a Docker engine: its build step is
// scripts/build-binary.sh, which TestMain ran for every service (the binaries started and
// answered --help); here the binaries must be static, and the final stage small and non-root.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(stages) != 2 {
		t.Fatalf("want a build stage and a final stage, got %v", stages)
	}
	if final := stages[1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage %s: want distroless static or scratch", final)
	}
	// A syntax line makes BuildKit pull a frontend image: offline, or behind a registry
	// mirror, every build would fail.
	if regexp.MustCompile(`(?m)^#\s*syntax\s*=`).MatchString(df) {
		t.Error("the Dockerfile must not name a frontend (# syntax=): the engine's own must do")
	}
	if !regexp.MustCompile(`(?m)^USER\s+(65532|nonroot)`).MatchString(df) {
		t.Error("the final stage must run as a non-root user")
	}
	for _, want := range []string{"ARG SERVICE", `scripts/build-binary.sh "${SERVICE}"`, "scripts/build-binary.sh healthcheck"} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	// Dependencies before sources, so a code change does not download modules again.
	mod, src := strings.Index(df, "COPY go.mod go.sum"), strings.Index(df, "COPY . .")
	download := strings.Index(df, "go mod download")
	if mod < 0 || src < 0 || download < 0 || !(mod < download && download < src) {
		t.Error("the Dockerfile must copy go.mod and go.sum and download modules before copying the sources")
	}
	// go mod download reads the go.mod of every module a replace points at in the repository.
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)=>\s*\./(\S+)\s*$`).FindAllStringSubmatch(string(gomod), -1) {
		copied := strings.Index(df, "COPY "+m[1]+"/go.mod")
		if copied < 0 || copied > download {
			t.Errorf("the Dockerfile must copy %s/go.mod (a replace target) before go mod download", m[1])
		}
	}

	healthcheck := filepath.Join(binDir, "healthcheck")
	build := exec.Command(filepath.Join(repoRoot, "scripts", "build-binary.sh"), "healthcheck", healthcheck)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build healthcheck: %v\n%s", err, out)
	}
	for _, name := range []string{"configserver", "user", "greeter", "gateway", "healthcheck"} {
		f, err := elf.Open(filepath.Join(binDir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked; a distroless static image cannot run it", name)
			}
		}
		f.Close()
	}
	if err := exec.Command(healthcheck, "tcp://127.0.0.1:1").Run(); err == nil {
		t.Error("healthcheck must fail for a closed port")
	}
}
