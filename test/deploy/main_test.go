package deploy

import (
	"fmt"
	"os"
	"testing"
)

var (
	repoRoot string
	// settings of each service binary, by environment variable, from its --help.
	settings = map[string]map[string]Setting{}
	binDir   string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		code = 1
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var err error
	if repoRoot, err = RepoRoot(); err != nil {
		return 1, err
	}
	if binDir, err = os.MkdirTemp("", "deploy-check-"); err != nil {
		return 1, err
	}
	defer os.RemoveAll(binDir)
	for _, service := range []string{"configserver", "user", "greeter", "gateway", "consul-acl"} {
		if settings[service], err = BinarySettings(repoRoot, service, binDir); err != nil {
			return 1, err
		}
	}
	return m.Run(), nil
}
