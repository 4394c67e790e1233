package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// readmeStep is one command of the README's first screen and the answer it shows.
type readmeStep struct {
	command string
	answer  string // "" when the command prints nothing
}

// firstScreen reads the console block of the README's "Run it" section.
func firstScreen(t *testing.T) []readmeStep {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Run it\n")
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, found := strings.Cut(section, "```console\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !found || !closed {
		t.Fatal("README.md has no console block in its Run it section")
	}
	var steps []readmeStep
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if command, isCommand := strings.CutPrefix(line, "$ "); isCommand {
			steps = append(steps, readmeStep{command: command})
		} else if len(steps) > 0 {
			steps[len(steps)-1].answer += line
		}
	}
	return steps
}

// TestReadmeFirstScreen runs the commands of the README's first screen, as a newcomer would
// after make run, against a stack of its own (a fresh database, as on a first run), and finds
// the answers the README shows (but for the trace id). The greeter learns logins from events,
// which arrive a moment after the login: a hello is asked again until it says what the README
// says, for at most 10 s.
func TestReadmeFirstScreen(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("NOTICE: curl is missing; the README's first screen is not run")
	}
	s := ownStack(t, stack.Config{})
	steps := firstScreen(t)
	if len(steps) < 3 {
		t.Fatalf("the first screen has %d commands, want register, login and hello", len(steps))
	}
	gateway := strings.TrimPrefix(s.GatewayURL, "http://")
	env := []string{}
	for _, step := range steps {
		command := strings.ReplaceAll(step.command, "localhost:8080", gateway)
		run := func() (string, error) {
			// Each command runs after the ones before it, whose variables (TOKEN) it may use.
			script := strings.Join(append(env, command), "\n")
			out, err := exec.Command("bash", "-c", script).Output()
			return strings.TrimSpace(string(out)), err
		}
		if step.answer == "" {
			// A command that sets variables runs once; what it set is kept for the next ones.
			set, err := variablesSetBy(strings.Join(env, "\n"), command)
			if err != nil || len(set) == 0 {
				t.Fatalf("%s: set %v, %v", step.command, set, err)
			}
			env = append(env, set...)
			continue
		}
		var got string
		err := stack.Until(10*time.Second, 100*time.Millisecond, step.answer, func() bool {
			out, err := run()
			got = out
			return err == nil && sameAnswer(t, out, step.answer)
		})
		if err != nil {
			t.Fatalf("%s\n got: %s\nwant: %s", step.command, got, step.answer)
		}
		t.Logf("%s → %s", step.command, got)
	}
}

// variablesSetBy runs command after before and returns what it set, as shell assignments.
func variablesSetBy(before, command string) ([]string, error) {
	script := "set -a\n" + before + "\n" + command + "\nenv -0"
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		return nil, err
	}
	inherited := map[string]bool{}
	for _, kv := range os.Environ() {
		inherited[kv] = true
	}
	var set []string
	for _, kv := range strings.Split(string(out), "\x00") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || inherited[kv] || name == "_" || name == "SHLVL" || name == "PWD" || name == "OLDPWD" {
			continue
		}
		set = append(set, name+"='"+strings.ReplaceAll(value, "'", `'\''`)+"'")
	}
	return set, nil
}

// sameAnswer compares two JSON answers, leaving out the trace id, which is new every time.
func sameAnswer(t *testing.T, got, want string) bool {
	var g, w map[string]any
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	delete(g, "trace_id")
	delete(w, "trace_id")
	return reflect.DeepEqual(g, w)
}
