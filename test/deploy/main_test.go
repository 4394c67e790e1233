package deploy

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

var (
	repoRoot string
	// settings of each service binary, by environment variable, from its --help.
	settings = map[string]map[string]Setting{}
	// added are the services make service added (names.Added).
	added  []string
	binDir string
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
	if added, err = AddedServices(repoRoot); err != nil {
		return 1, err
	}
	for _, service := range append([]string{"configserver", "user", "greeter", "gateway", "consul-acl"}, added...) {
		if settings[service], err = BinarySettings(repoRoot, service, binDir); err != nil {
			return 1, err
		}
	}
	// consul-acl reads the token of each added service from CONSUL_TOKEN_<NAME>.
	for _, name := range added {
		key := "CONSUL_TOKEN_" + strings.ToUpper(name)
		settings["consul-acl"][key] = Setting{Env: key}
	}
	return m.Run(), nil
}
