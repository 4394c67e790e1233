// Command newservice writes a new service into the repository, the way the user service and
// the greeter are written: `make service NAME=order` runs it, then generates the code of its
// proto. It writes
//
//	proto/NAME/NAME.proto             one RPC with its route (/NAME/hello), for the gateway
//	service/NAME/main.go              settings, tracing, Consul registration, breaker-wrapped client
//	service/NAME/handler/handler.go   the transport: messages in, domain calls, errors to reasons
//	service/NAME/domain/…             the service's rules, knowing nothing of go-micro, with a test
//	config-repo/NAME.yml              its settings on the config server
//	deploy/kubernetes/base/NAME.yaml  its Deployment, Service and NetworkPolicy
//
// adds NAME to names.Added, from which its Consul token and rights (consulacl, keygen,
// consul-acl), `make run` and the tests' stacks take it, and gives it its place in compose,
// the kustomize base and overlays, the NetworkPolicies and the secrets' examples (before the
// "make service adds … here" lines). The gateway needs nothing: it routes whatever the
// registry holds.
package main

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templates embed.FS

// files are the files written, by template.
var files = map[string]string{
	"proto.tmpl":        "proto/{{.Name}}/{{.Name}}.proto",
	"main.tmpl":         "service/{{.Name}}/main.go",
	"handler.tmpl":      "service/{{.Name}}/handler/handler.go",
	"domain.tmpl":       "service/{{.Name}}/domain/domain.go",
	"domain_test.tmpl":  "service/{{.Name}}/domain/domain_test.go",
	"config-repo.tmpl":  "config-repo/{{.Name}}.yml",
	"handler_test.tmpl": "service/{{.Name}}/handler/handler_test.go",
	"k8s.tmpl":          "deploy/kubernetes/base/{{.Name}}.yaml",
}

// insertion is text put into a file that exists, before its marker line.
type insertion struct {
	file, marker, text string
}

// podSelector admits the service's pods in a NetworkPolicy's from list.
const podSelector = `        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{.Name}}
`

// insertions give the service its place in compose, Kubernetes and the secrets' examples.
var insertions = []insertion{
	{"docker-compose.yml", "      # make service adds tokens here", "      CONSUL_TOKEN_{{.Upper}}: ${CONSUL_TOKEN_{{.Upper}}:?set CONSUL_TOKEN_{{.Upper}} in .env (go run ./tools/keygen)}\n"},
	{"docker-compose.yml", "  # make service adds services here", "@compose-service.tmpl"},
	{".env.example", "# make service adds tokens here", "CONSUL_TOKEN_{{.Upper}}=\n"},
	{"deploy/kubernetes/overlays/dev/secret.env.example", "# make service adds tokens here", "CONSUL_TOKEN_{{.Upper}}=\n"},
	{"deploy/kubernetes/base/kustomization.yaml", "  # make service adds resources here", "  - {{.Name}}.yaml\n"},
	{"deploy/kubernetes/base/consul-acl.yaml", "            # make service adds tokens here", `            - name: CONSUL_TOKEN_{{.Upper}}
              valueFrom:
                secretKeyRef:
                  name: gomicro-secrets
                  key: CONSUL_TOKEN_{{.Upper}}
`},
	{"deploy/kubernetes/base/network-policy.yaml", "        # make service adds config-server clients here", podSelector},
	{"deploy/kubernetes/base/network-policy.yaml", "        # make service adds consul clients here", podSelector},
	{"deploy/kubernetes/base/network-policy.yaml", "        # make service adds jaeger clients here", podSelector},
	{"deploy/kubernetes/overlays/prod/kustomization.yaml", "  # make service adds images here", `  - name: gomicro-stack/{{.Name}}
    newName: registry.example.com/gomicro-stack/{{.Name}}
    newTag: 0.1.0
`},
}

// namePattern is what a service name may be: a proto package, a Go package, a path segment
// and a Consul name all at once.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// taken are names the stack uses already.
var taken = map[string]bool{"user": true, "greeter": true, "gateway": true, "configserver": true, "reflection": true,
	"api": true, "run": true, "keygen": true, "healthcheck": true, "reader": true, "management": true}

// Service is what the templates are given.
type Service struct {
	// Name is the service's name (order), Title its Go and proto service name (Order), Upper
	// its environment variables' spelling (ORDER).
	Name, Title, Upper string
	// Module is the Go module's path.
	Module string
}

// marker is the line of internal/names/names.go before which a service's name is added.
const marker = "\t// make service adds here"

func main() {
	root := flag.String("root", ".", "the repository")
	name := flag.String("name", "", "the new service's name: 2 to 31 of a-z 0-9, starting with a letter (make service NAME=order)")
	flag.Parse()
	if err := write(*root, *name); err != nil {
		fmt.Fprintln(os.Stderr, "newservice:", err)
		os.Exit(1)
	}
}

func write(root, name string) error {
	switch {
	case !namePattern.MatchString(name):
		return fmt.Errorf("name %q: want 2 to 31 of a-z 0-9, starting with a letter (make service NAME=order)", name)
	case taken[name]:
		return fmt.Errorf("name %q is taken by the stack", name)
	}
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	s := Service{Name: name, Title: strings.ToUpper(name[:1]) + name[1:], Upper: strings.ToUpper(name), Module: module}
	// Nothing is written unless every file is new.
	out := map[string][]byte{}
	for tmpl, pathTmpl := range files {
		path, err := render(pathTmpl, s)
		if err != nil {
			return err
		}
		full := filepath.Join(root, string(path))
		if _, err := os.Stat(full); err == nil {
			return fmt.Errorf("%s exists: a service %s is there already", path, name)
		}
		body, err := templates.ReadFile("templates/" + tmpl)
		if err != nil {
			return err
		}
		text, err := render(string(body), s)
		if err != nil {
			return fmt.Errorf("%s: %w", tmpl, err)
		}
		if strings.HasSuffix(full, ".go") {
			if text, err = format.Source(text); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		out[full] = text
	}
	for _, in := range insertions {
		full := filepath.Join(root, in.file)
		current, ok := out[full]
		if !ok {
			if current, err = os.ReadFile(full); err != nil {
				return err
			}
		}
		text := []byte(in.text)
		if name, ok := strings.CutPrefix(in.text, "@"); ok {
			if text, err = templates.ReadFile("templates/" + name); err != nil {
				return err
			}
		}
		rendered, err := render(string(text), s)
		if err != nil {
			return err
		}
		if out[full], err = insert(current, in.marker, rendered); err != nil {
			return fmt.Errorf("%s: %w", in.file, err)
		}
	}
	namesFile := filepath.Join(root, "internal", "names", "names.go")
	added, err := addName(namesFile, name)
	if err != nil {
		return err
	}
	out[namesFile] = added
	paths := make([]string, 0, len(out))
	for path := range out {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		text := out[path]
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, text, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", strings.TrimPrefix(path, filepath.Clean(root)+string(filepath.Separator)))
	}
	return nil
}

func render(text string, s Service) ([]byte, error) {
	t, err := template.New("").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// addName is names.go with name added to names.Added, before the marker line.
func addName(path, name string) ([]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	line := fmt.Sprintf("\t%q,\n", name)
	if bytes.Contains(text, []byte(line)) {
		return nil, fmt.Errorf("%s: names.Added has %s already", path, name)
	}
	added, err := insert(text, marker, []byte(line))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return format.Source(added)
}

// insert puts text before the line that is marker.
func insert(file []byte, marker string, text []byte) ([]byte, error) {
	var out bytes.Buffer
	found := false
	sc := bufio.NewScanner(bytes.NewReader(file))
	for sc.Scan() {
		line := sc.Text()
		if line == marker && !found {
			out.Write(text)
			found = true
		}
		out.WriteString(line + "\n")
	}
	if !found {
		return nil, fmt.Errorf("no line %q to add the service before", strings.TrimSpace(marker))
	}
	return out.Bytes(), nil
}

func modulePath(goMod string) (string, error) {
	text, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(text), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", errors.New("go.mod names no module")
}
