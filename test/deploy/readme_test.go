package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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

// figure is a number with a unit of time, size, share or ratio, as prose states a measurement.
var figure = regexp.MustCompile(`(?:^|[^\pL\d.,])(\d[\d,.]*(?:[–-]\d[\d,.]*)?)\s?(µs|ns|ms|s|minutes?|hours?|B|KB|KiB|MB|MiB|GB|GiB|%|×|req/s)(?:[^\pL\d]|$)`)

// codeSpan is inline code: literal configuration (`500ms`, `ttl: 10s`), not a claim.
var codeSpan = regexp.MustCompile("`[^`]*`")

// TestReadmeFiguresComeFromWhereTheyAreMeasured: every figure in the README's prose is either
// the default of a setting (what the binaries' --help says) or a figure of BENCHMARKS.md (what
// make bench wrote). A figure measured once and copied by hand drifts from the code; the
// measurements of the tests are in their output, where the prose names them.
func TestReadmeFiguresComeFromWhereTheyAreMeasured(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	benchmarks, err := os.ReadFile(filepath.Join(repoRoot, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]bool{}
	for _, byEnv := range settings {
		for _, s := range byEnv {
			defaults[normalFigure(s.Default)] = true
		}
	}
	inCode := false
	for n, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		if inCode || settingRow.MatchString(line) {
			continue // examples of output and config, and the settings table (TestReadmeListsEverySetting)
		}
		for _, m := range figure.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			stated := m[1] + " " + m[2]
			if defaults[normalFigure(stated)] || strings.Contains(string(benchmarks), m[1]+" "+m[2]) || strings.Contains(string(benchmarks), m[1]+m[2]) {
				continue
			}
			t.Errorf("README.md:%d: %q is neither a setting's default nor a figure of BENCHMARKS.md: name the test or benchmark that measures it instead\n\t%s", n+1, stated, strings.TrimSpace(line))
		}
	}
}

// normalFigure writes a duration or a size one way, so that "10 s", "10s" and "10000ms" match,
// as do "1 MiB" and "1048576"; anything else is returned as it is.
func normalFigure(text string) string {
	text = strings.TrimSuffix(strings.ReplaceAll(strings.TrimSpace(text), " ", ""), "%")
	for unit, with := range map[string]string{"minutes": "m", "minute": "m", "hours": "h", "hour": "h"} {
		if strings.HasSuffix(text, unit) {
			text = strings.TrimSuffix(text, unit) + with
		}
	}
	if d, err := time.ParseDuration(text); err == nil {
		return d.String()
	}
	for unit, size := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, err := strconv.ParseInt(strings.TrimSuffix(text, unit), 10, 64); err == nil && strings.HasSuffix(text, unit) {
			return strconv.FormatInt(n*size, 10)
		}
	}
	return text
}
