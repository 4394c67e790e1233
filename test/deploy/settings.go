package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Setting is one setting a binary reads, as its --help lists it.
type Setting struct {
	Flag    string
	Env     string
	Default string
	Secret  bool
}

var usageLine = regexp.MustCompile(`^\s+(--[a-z_]+)\s+([A-Z_]+)\s+.*\(default "(.*)"\)$`)

// BinarySettings builds a service of the stack (configserver, user, greeter, gateway) with
// scripts/build-binary.sh in the repository at root, runs it with --help and returns its
// settings by environment variable: the one source of truth the deployment files must match.
func BinarySettings(root, service, dir string) (map[string]Setting, error) {
	bin := filepath.Join(dir, service)
	build := exec.Command(filepath.Join(root, "scripts", "build-binary.sh"), service, bin)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s: %v\n%s", service, err, out)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --help: %v\n%s", service, err, out)
	}
	settings := map[string]Setting{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := usageLine.FindStringSubmatch(line); m != nil {
			settings[m[2]] = Setting{Flag: m[1], Env: m[2], Default: m[3], Secret: m[3] == "(none)"}
		}
	}
	if len(settings) < 5 {
		return nil, fmt.Errorf("%s --help listed only %d settings:\n%s", service, len(settings), out)
	}
	return settings, nil
}

// RepoRoot is the repository holding this module (two folders up from test/deploy).
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "docker-compose.yml")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no docker-compose.yml above %s", wd)
}

// addedRule is a line of names.Added in internal/names/names.go: the services make service
// added ("order",).
var addedRule = regexp.MustCompile(`(?m)^\t"([a-z][a-z0-9]{1,30})",$`)

// AddedServices are the services make service added to the repository at root (names.Added):
// the checks expect each in compose and Kubernetes beside the stack's own.
func AddedServices(root string) ([]string, error) {
	text, err := os.ReadFile(filepath.Join(root, "internal", "names", "names.go"))
	if err != nil {
		return nil, err
	}
	_, block, ok := strings.Cut(string(text), "var Added = []string{")
	if !ok {
		return nil, fmt.Errorf("internal/names/names.go has no Added list")
	}
	block, _, _ = strings.Cut(block, "\n}")
	var out []string
	for _, m := range addedRule.FindAllStringSubmatch(block, -1) {
		out = append(out, m[1])
	}
	return out, nil
}
