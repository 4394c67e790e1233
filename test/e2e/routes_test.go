package e2e

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	consulapi "github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/consulacl"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

// TestANewServiceIsRoutedThroughTheRegistry: a service the gateway was not built with
// (test/e2e/echo), started after the gateway, is served through it within 10 s, with the
// types, rules and options its own proto declares: 401 without a token, 400 for a body
// against its rules, its 201 typed JSON with one, its breaker in the gateway's metrics, its
// route in the gateway's /openapi.yaml with its proto's comments. Its claim on another
// service's path is refused. Without its own Consul token it cannot register. When it stops,
// its routes answer 503 for route_grace, then 404, and leave the document.
func TestANewServiceIsRoutedThroughTheRegistry(t *testing.T) {
	s := ownStack(t, stack.Config{Env: []string{"GATEWAY_ROUTE_GRACE=2s"}})
	c := newClient(t, s.GatewayURL)
	token := c.signup("echoer_e2e")
	say := func(body string, headers ...string) answer { return c.do("POST", "/echo/say", body, headers...) }
	if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 404 {
		t.Fatalf("before the echo service exists: %d %s, want 404", a.Status, a.Raw)
	}

	bin := filepath.Join(t.TempDir(), "echo")
	if out, err := exec.Command("go", "build", "-o", bin, "./echo").CombinedOutput(); err != nil {
		t.Fatalf("build the echo service: %v\n%s", err, out)
	}
	service := names.Namespace + ".echo"
	consul, secret := grantConsul(t, s, "echo")
	env := []string{"REGISTRY_ADDRESS=" + s.ConsulAddress, "INTERNAL_AUTH_PUBLIC_KEYS=" + s.InternalPublicKey}

	// With another binary's token, no registration of its name is accepted.
	asGreeter, err := consulapi.NewClient(&consulapi.Config{Address: s.ConsulAddress, Token: s.ConsulTokens["greeter"]})
	if err != nil {
		t.Fatal(err)
	}
	rogue := &consulapi.AgentServiceRegistration{ID: "echo-rogue", Name: service, Address: "127.0.0.1", Port: 1}
	if err := asGreeter.Agent().ServiceRegister(rogue); err == nil || !strings.Contains(err.Error(), "403") {
		consul.Agent().ServiceDeregister(rogue.ID)
		t.Fatalf("the greeter's token registered %s: %v", service, err)
	}

	started := time.Now()
	echo, err := s.StartBinary("echo", bin, append(env, "REGISTRY_TOKEN="+secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Stop(5 * time.Second) })
	if err := stack.Eventually(10*time.Second, 50*time.Millisecond, func() error {
		if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 201 {
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatalf("the echo service's route through the gateway started before it: %v", err)
	}
	t.Logf("the echo service's route answered %s after it started", time.Since(started).Round(time.Millisecond))

	a := say(`{"text":"héllo"}`, "Authorization: Bearer "+token)
	if a.Status != 201 || a.Raw != `{"code":0,"message":"ok","text":"héllo","caller":"echoer_e2e","length":5}` {
		t.Fatalf("typed answer: %d %s", a.Status, a.Raw)
	}
	expectError(t, say(`{"text":"hi"}`), 401, "please login")
	if a := say(`{"text":""}`, "Authorization: Bearer "+token); a.Status != 400 || a.Str("reason") != "INVALID_ARGUMENT" || !strings.Contains(a.Str("message"), "text: value length must be between 1 and 100 runes") {
		t.Fatalf("a body against the echo proto's rule: %d %s", a.Status, a.Raw)
	}
	if a := say(`{"text":"hi","Text":"x"}`, "Authorization: Bearer "+token); a.Status != 400 {
		t.Fatalf("another spelling of a key: %d %s", a.Status, a.Raw)
	}
	// Its claim on /user/login is refused: the login still goes to the user service.
	if a := c.login("echoer_e2e", "password-echoer_e2e"); a.Status != 200 || a.Str("token") == "" {
		t.Fatalf("login while the echo service claims its path: %d %s", a.Status, a.Raw)
	}
	metrics := get(t, s.GatewayMetricsURL)
	if !strings.Contains(metrics, `gomicro_breaker_open{command="go.micro.api.echo.Echo.Say"} 0`) {
		t.Fatalf("no breaker of Echo.Say in the gateway's metrics:\n%s", grepLines(metrics, "gomicro_breaker_open"))
	}
	// The gateway's OpenAPI document has its route, documented by echo.proto's comments, and
	// not the route refused.
	doc := servedDocument(t, s.GatewayURL)
	say201 := doc.Paths.Find("/echo/say")
	if say201 == nil || say201.Post == nil || say201.Post.Description != "Say answers what was said, on behalf of the caller." || say201.Post.Responses.Status(201) == nil {
		t.Fatalf("/echo/say in the served document: %+v", say201)
	}
	if login := doc.Paths.Find("/user/login"); login == nil || login.Post.OperationID != "User_Login" {
		t.Fatalf("/user/login in the served document: %+v", login)
	}

	// It stops: 503 for the grace, then 404.
	if err := echo.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 503 && a.Status != 404 {
		t.Fatalf("right after the echo service stopped: %d %s", a.Status, a.Raw)
	}
	if err := stack.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		if a := say(`{"text":"hi"}`, "Authorization: Bearer "+token); a.Status != 404 {
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatalf("the echo route after the service stopped: %v", err)
	}
	t.Logf("its route went %s after it stopped (route_grace 2s)", time.Since(stopped).Round(time.Millisecond))
	if doc := servedDocument(t, s.GatewayURL); doc.Paths.Find("/echo/say") != nil || doc.Paths.Find("/user/login") == nil {
		t.Fatalf("the served document after the echo service went: %v", doc.Paths.InMatchingOrder())
	}
}

// servedDocument is the gateway's /openapi.yaml, which kin-openapi (others' validator) must
// find a valid OpenAPI 3 document.
func servedDocument(t *testing.T, gateway string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(get(t, gateway+"/openapi.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the served document is no valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// grantConsul gives a service the stack does not know a Consul token of its own, as
// tools/consul-acl gives the stack's, and returns a management client and the token.
func grantConsul(t *testing.T, s *stack.Stack, name string) (*consulapi.Client, string) {
	t.Helper()
	consul, err := consulapi.NewClient(&consulapi.Config{Address: s.ConsulAddress, Token: s.ConsulManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := consulacl.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	grant := consulacl.Grant{Name: name, Writes: []string{names.Namespace + "." + name, names.BrokerOf(name)}, Secret: secret}
	if err := consulacl.Apply(consul, []consulacl.Grant{grant}); err != nil {
		t.Fatal(err)
	}
	return consul, secret
}

// TestAGeneratedServiceIsServed: `make service`'s generator writes a service into a copy of
// the repository; built there and started alone beside a running stack, its route answers
// through the gateway that was started before it existed, within 10 s: 401 without a token,
// 400 for a body against its rules, its 200 typed JSON with one, its span in the trace under
// the gateway's, its breaker in the gateway's metrics. Its own tests pass. Then an
// RPC is added to it, and it alone restarts: the new route is served, the gateway untouched.
func TestAGeneratedServiceIsServed(t *testing.T) {
	copyDir := t.TempDir()
	files, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		if err := copyFile(filepath.Join(repoRoot, f), filepath.Join(copyDir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) { // deleted, not yet committed
			t.Fatal(err)
		}
	}
	// The copy uses the repository's protoc plugins (make tools built them).
	if err := os.Symlink(filepath.Join(repoRoot, "bin"), filepath.Join(copyDir, "bin")); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = copyDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	// A name no service of this repository has (make service may have added "order").
	name := "order"
	for i := 2; slices.Contains(names.Added, name); i++ {
		name = fmt.Sprintf("order%d", i)
	}
	run("go", "run", "./tools/newservice", "--name", name)
	run("scripts/protogen.sh")
	run("go", "vet", "./service/"+name+"/...", "./internal/...")
	run("go", "test", "-count=1", "./service/"+name+"/...")
	bin := filepath.Join(t.TempDir(), name)
	run("go", "build", "-o", bin, "./service/"+name)

	jaeger := stack.FindJaeger(repoRoot)
	if jaeger == "" {
		t.Fatal("no jaeger executable (JAEGER_BIN, PATH or bin/jaeger): run make jaeger")
	}
	s := ownStack(t, stack.Config{Tracing: stack.Tracing{JaegerBin: jaeger, JaegerConfig: filepath.Join(repoRoot, "deploy/jaeger/config.yaml")}})
	c := newClient(t, s.GatewayURL)
	token := c.signup("orderer_e2e")
	_, secret := grantConsul(t, s, name)
	env := []string{"REGISTRY_ADDRESS=" + s.ConsulAddress, "REGISTRY_TOKEN=" + secret,
		"INTERNAL_AUTH_PUBLIC_KEYS=" + s.InternalPublicKey, "CONFIG_FAIL_FAST=true", "TRACING_ENDPOINT=" + s.TracingEndpoint}
	started := time.Now()
	order, err := s.StartBinary(name, bin, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { order.Stop(5 * time.Second) })
	hello := func(body string, headers ...string) answer { return c.do("POST", "/"+name+"/hello", body, headers...) }
	if err := stack.Eventually(10*time.Second, 50*time.Millisecond, func() error {
		if a := hello(`{"name":"Bob"}`, "Authorization: Bearer "+token); a.Status != 200 {
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatalf("the generated service's route through the running gateway: %v", err)
	}
	t.Logf("the generated service's route answered %s after it started", time.Since(started).Round(time.Millisecond))
	a := hello(`{"name":"Bob"}`, "Authorization: Bearer "+token)
	if a.Raw != `{"code":0,"message":"ok","greeting":"Hello, Bob","caller":"orderer_e2e"}` {
		t.Fatalf("typed answer: %d %s", a.Status, a.Raw)
	}
	// Its span is in the trace, the child of the gateway's call, its breaker in the gateway's
	// metrics.
	title := strings.ToUpper(name[:1]) + name[1:]
	tr := waitTrace(t, s, tracing.TraceIDOfTraceparent(a.Header.Get("Traceparent")), "gateway", name)
	tr.chain(t, tr.one(t, "gateway", "POST /"+name+"/hello", "server"), hop{"gateway", title + ".Hello", "client"}, hop{name, title + ".Hello", "server"})
	if metrics := get(t, s.GatewayMetricsURL); !strings.Contains(metrics, `gomicro_breaker_open{command="go.micro.api.`+name+`.`+title+`.Hello"} 0`) {
		t.Fatalf("no breaker of %s.Hello in the gateway's metrics:\n%s", title, grepLines(metrics, "gomicro_breaker_open"))
	}
	expectError(t, hello(`{"name":"Bob"}`), 401, "please login")
	if a := hello(`{"name":""}`, "Authorization: Bearer "+token); a.Status != 400 || a.Str("reason") != "INVALID_ARGUMENT" {
		t.Fatalf("an empty name: %d %s", a.Status, a.Raw)
	}

	// An RPC added to the service is served once only the service restarts with it.
	bye := func() answer { return c.do("POST", "/"+name+"/bye", `{"name":"Bob"}`, "Authorization: Bearer "+token) }
	if a := bye(); a.Status != 404 {
		t.Fatalf("/%s/bye before it exists: %d %s", name, a.Status, a.Raw)
	}
	protoFile := filepath.Join(copyDir, "proto", name, name+".proto")
	text, err := os.ReadFile(protoFile)
	if err != nil {
		t.Fatal(err)
	}
	rpc := "\trpc Bye(HelloRequest) returns (HelloReply) {\n\t\toption (google.api.http) = { post: \"/" + name + "/bye\" body: \"*\" };\n\t}\n"
	text = []byte(strings.Replace(string(text), "\trpc Hello(", rpc+"\trpc Hello(", 1))
	if err := os.WriteFile(protoFile, text, 0o644); err != nil {
		t.Fatal(err)
	}
	method := "\n// Bye answers as Hello does.\nfunc (h *" + title + ") Bye(ctx context.Context, in *" + name + "pb.HelloRequest, out *" + name + "pb.HelloReply) error {\n\treturn h.Hello(ctx, in, out)\n}\n"
	handlerFile := filepath.Join(copyDir, "service", name, "handler", "handler.go")
	handlerText, err := os.ReadFile(handlerFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(handlerFile, append(handlerText, method...), 0o644); err != nil {
		t.Fatal(err)
	}
	run("scripts/protogen.sh")
	run("go", "build", "-o", bin, "./service/"+name)
	if err := order.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	restarted, err := s.StartBinary(name, bin, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restarted.Stop(5 * time.Second) })
	started = time.Now()
	if err := stack.Eventually(10*time.Second, 50*time.Millisecond, func() error {
		if a := bye(); a.Status != 200 || a.Str("greeting") != "Hello, Bob" {
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatalf("the added RPC after restarting only %s: %v", name, err)
	}
	t.Logf("an RPC added to %s was served %s after only %s restarted", name, time.Since(started).Round(time.Millisecond), name)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	info, err := os.Stat(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, info.Mode().Perm())
}

func get(t *testing.T, url string) string {
	t.Helper()
	rsp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return string(b)
}

func grepLines(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
