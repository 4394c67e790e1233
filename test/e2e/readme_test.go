package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeListsEverySetting: each binary's --help and the README's settings table agree, so
// the table cannot fall behind the code.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag -> table row
	for _, line := range strings.Split(string(readme), "\n") {
		if m := regexp.MustCompile("^\\|[^|]*\\| `(--[a-z_]+)` \\|").FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	usage := regexp.MustCompile(`^\s+(--[a-z_]+)\s+([A-Z_]+)\s`)
	for _, binary := range []string{"configserver", "user", "greeter", "gateway"} {
		out, err := exec.Command(filepath.Join(binDir, binary), "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v\n%s", binary, err, out)
		}
		found := 0
		for _, line := range strings.Split(string(out), "\n") {
			m := usage.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			found++
			row, ok := rows[m[1]]
			if !ok {
				t.Errorf("README has no row for %s %s", binary, m[1])
				continue
			}
			if !strings.Contains(row, "`"+m[2]+"`") {
				t.Errorf("README row for %s does not name %s: %s", m[1], m[2], row)
			}
			// "all services" are user, greeter and gateway.
			service := binary != "configserver"
			if !strings.Contains(row, binary) && !(service && strings.Contains(row, "all services")) {
				t.Errorf("README row for %s does not name the %s binary: %s", m[1], binary, row)
			}
		}
		if found < 4 {
			t.Fatalf("%s --help listed only %d settings:\n%s", binary, found, out)
		}
	}
}
