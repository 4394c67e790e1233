package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// TestOpenAPIDocumentIsWhatTheGatewaySpeaks: the gateway serves, without a token, the document
// of the routes it learnt from the registry, the one make proto writes; kin-openapi (a
// validator written by others) finds it a valid OpenAPI 3 document, and every answer of a
// session (register, login, refresh, hello, logout, delete, errors) matches it, as do the
// requests the gateway accepts, while those it refuses for a broken rule break the document's
// schema too.
func TestOpenAPIDocumentIsWhatTheGatewaySpeaks(t *testing.T) {
	rsp, err := http.Get(shared.GatewayURL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	committed, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The gateway assembles the document from the services in the registry: with the stack's
	// services running it is api/openapi.yaml, which make proto writes from proto/, but for
	// that file's first line, which says so.
	_, committed, _ = bytes.Cut(committed, []byte("\n"))
	if rsp.StatusCode != 200 || !bytes.Equal(served, committed) || rsp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %d %s, %d bytes; want api/openapi.yaml", rsp.StatusCode, rsp.Header.Get("Content-Type"), len(served))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(served)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("not a valid OpenAPI 3 document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: shared.GatewayURL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	options := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	hc := &http.Client{}
	// call sends a request, checks it and its answer against the document, and says whether
	// the document accepted the request.
	call := func(path, body string, headers ...string) (int, []byte, error) {
		t.Helper()
		req, _ := http.NewRequest("POST", shared.GatewayURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for _, h := range headers {
			name, value, _ := strings.Cut(h, ":")
			req.Header.Set(name, strings.TrimSpace(value))
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s: no route in the document: %v", path, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options}
		requestErr := openapi3filter.ValidateRequest(ctx, in)
		req.Body = io.NopCloser(strings.NewReader(body)) // the validator read it
		rsp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rsp.StatusCode, Header: rsp.Header, Body: io.NopCloser(bytes.NewReader(answer)), Options: options}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s answered %d %s, which the document does not allow: %v", path, rsp.StatusCode, answer, err)
		}
		return rsp.StatusCode, answer, requestErr
	}
	expect := func(what string, status int, answer []byte, requestErr error, wantStatus int, wantValid bool) {
		t.Helper()
		if status != wantStatus || (requestErr == nil) != wantValid {
			t.Errorf("%s: %d %s, request valid by the document: %v (%v); want %d, %v", what, status, answer, requestErr == nil, requestErr, wantStatus, wantValid)
		}
	}
	pw := credentials("openapi_e2e", "password-openapi_e2e")
	status, answer, reqErr := call("/user/register", pw, "Idempotency-Key: openapi-1")
	expect("register", status, answer, reqErr, 201, true)
	status, answer, reqErr = call("/user/register", pw, "Idempotency-Key: openapi-1")
	expect("register replayed", status, answer, reqErr, 201, true)
	status, answer, reqErr = call("/user/register", credentials("openapi_e2e", "another password"))
	expect("register taken", status, answer, reqErr, 409, true)
	status, login, reqErr := call("/user/login", pw)
	expect("login", status, login, reqErr, 200, true)
	tokens := decode(t, login)
	token, refresh := tokens["token"].(string), tokens["refresh_token"].(string)
	status, answer, reqErr = call("/user/refresh", `{"refresh_token":"`+refresh+`"}`)
	expect("refresh", status, answer, reqErr, 200, true)
	refresh = decode(t, answer)["refresh_token"].(string)
	status, answer, reqErr = call("/greeter/hello", `{"name":"Bob"}`, "Authorization: Bearer "+token)
	expect("hello", status, answer, reqErr, 200, true)
	status, answer, reqErr = call("/greeter/hello", `{"name":"Bob"}`)
	expect("hello without a token", status, answer, reqErr, 401, true)
	// Broken rules: refused by the gateway (400) and by the document alike.
	for _, bad := range []struct{ path, body, header string }{
		{"/user/register", credentials("ab", "long enough"), ""},
		{"/user/register", credentials("okname", "x"), ""}, // the document knows characters, not bytes
		{"/user/register", `{"password":"long enough"}`, ""},
		{"/user/register", credentials("okname2", "long enough"), "Idempotency-Key: has space"},
		{"/user/login", `{"username":"openapi_e2e"}`, ""},
		{"/user/refresh", `{}`, ""},
		{"/greeter/hello", `{"name":"` + strings.Repeat("x", 65) + `"}`, "Authorization: Bearer " + token},
		{"/greeter/hello", `{"name":" Bob"}`, "Authorization: Bearer " + token},
	} {
		var headers []string
		if bad.header != "" {
			headers = append(headers, bad.header)
		}
		status, answer, reqErr = call(bad.path, bad.body, headers...)
		expect(bad.path+" "+bad.body+" "+bad.header, status, answer, reqErr, 400, false)
	}
	status, answer, reqErr = call("/user/logout", `{"refresh_token":"`+refresh+`"}`, "Authorization: Bearer "+token)
	expect("logout", status, answer, reqErr, 200, true)
	_, login, _ = call("/user/login", pw)
	token = decode(t, login)["token"].(string)
	status, answer, reqErr = call("/user/delete", `{"password":"password-openapi_e2e"}`, "Authorization: Bearer "+token)
	expect("delete", status, answer, reqErr, 200, true)
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return m
}

// redoclyCLI is the linter that judges the document: written by others, pinned.
const redoclyCLI = "@redocly/cli@2.77.0"

// TestOpenAPIDocumentPassesRedoclyLint: the document the gateway serves (api/openapi.yaml, as
// the test above finds) passes Redocly's recommended rules (api/redocly.yaml) without a single
// error or warning: servers, a summary per operation, security stated on every operation
// (`[]` on the public ones), a 4XX answer per operation.
func TestOpenAPIDocumentPassesRedoclyLint(t *testing.T) {
	modules := npmInstall(t, redoclyCLI)
	rsp, err := http.Get(shared.GatewayURL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	file := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(file, served, 0o644); err != nil {
		t.Fatal(err)
	}
	config, err := filepath.Abs("../../api/redocly.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(modules, ".bin", "redocly"), "lint", "--config", config, "--format=json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output() // it exits 1 on errors; the report says what they are
	var report struct {
		Totals   struct{ Errors, Warnings int }
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Message  string
			Location []struct{ Pointer string }
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("redocly lint said no report: %v\n%s\n%s", err, out, stderr.String())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s at %s: %s", p.RuleID, where, p.Message)
	}
	if report.Totals.Errors+report.Totals.Warnings != 0 {
		t.Fatalf("redocly lint: %d errors, %d warnings", report.Totals.Errors, report.Totals.Warnings)
	}
}
