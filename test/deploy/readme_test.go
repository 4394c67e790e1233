package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// settingRow is a row of the README's settings table: | binaries | `--flag` | `ENV` | ...
var settingRow = regexp.MustCompile("^\\|[^|]*\\| `(--[a-z_]+)` \\|")

// TestReadmeListsEverySetting: each binary's --help and the README's settings table agree, so
// the table cannot fall behind the code.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag -> table row
	for _, line := range strings.Split(string(readme), "\n") {
		if m := settingRow.FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	for binary, byEnv := range settings {
		if slices.Contains(added, binary) {
			continue // a service make service added documents itself (its config-repo file, --help)
		}
		for _, s := range byEnv {
			if s.Flag == "" {
				continue // read from the environment alone: consul-acl's tokens of added services
			}
			row, ok := rows[s.Flag]
			if !ok {
				t.Errorf("README has no row for %s %s", binary, s.Flag)
				continue
			}
			if !strings.Contains(row, "`"+s.Env+"`") {
				t.Errorf("README row for %s does not name %s: %s", s.Flag, s.Env, row)
			}
			// "all services" are user, greeter and gateway.
			service := binary != "configserver"
			if !strings.Contains(row, binary) && !(service && strings.Contains(row, "all services")) {
				t.Errorf("README row for %s does not name the %s binary: %s", s.Flag, binary, row)
			}
		}
	}
}
