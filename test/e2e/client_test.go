package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

// apiClient speaks to a gateway the way a client application does.
type apiClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *apiClient {
	return &apiClient{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
}

// answer is a decoded gateway answer.
type answer struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// Code is the body's "code" field (-1 when missing).
func (a answer) Code() int {
	if c, ok := a.Body["code"].(float64); ok {
		return int(c)
	}
	return -1
}

// Str is a string field of the body.
func (a answer) Str(field string) string {
	s, _ := a.Body[field].(string)
	return s
}

// do sends method path with body (sent as JSON) and headers given as "Name: value" pairs.
func (c *apiClient) do(method, path, body string, headers ...string) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return c.send(req)
}

func (c *apiClient) send(req *http.Request) answer {
	c.t.Helper()
	rsp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	a := answer{Status: rsp.StatusCode, Header: rsp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &a.Body); err != nil {
		c.t.Fatalf("%s %s answered %d with non-JSON %q", req.Method, req.URL.Path, rsp.StatusCode, raw)
	}
	return a
}

func credentials(username, password string) string {
	b, _ := json.Marshal(map[string]string{"username": username, "password": password})
	return string(b)
}

func (c *apiClient) register(username, password string) answer {
	c.t.Helper()
	return c.do("POST", "/user/register", credentials(username, password))
}

func (c *apiClient) login(username, password string) answer {
	c.t.Helper()
	return c.do("POST", "/user/login", credentials(username, password))
}

// signup registers and logs in a fresh user and returns its token.
func (c *apiClient) signup(username string) string {
	c.t.Helper()
	if a := c.register(username, "password-"+username); a.Status != 201 {
		c.t.Fatalf("register %s: %d %s", username, a.Status, a.Raw)
	}
	a := c.login(username, "password-"+username)
	if a.Status != 200 || a.Str("token") == "" {
		c.t.Fatalf("login %s: %d %s", username, a.Status, a.Raw)
	}
	return a.Str("token")
}

func (c *apiClient) hello(token, name string, headers ...string) answer {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	return c.do("POST", "/greeter/hello", string(body), append(headers, "Authorization: Bearer "+token)...)
}

// expectError checks an error answer: status, {"code": status, "message": ..., "trace_id": ...}
// with the trace id its traceparent header names.
func expectError(t *testing.T, a answer, status int, message string) {
	t.Helper()
	if a.Status != status || a.Code() != status {
		t.Fatalf("got %d %s, want status and code %d", a.Status, a.Raw, status)
	}
	if id := tracing.TraceIDOfTraceparent(a.Header.Get("Traceparent")); id == "" || a.Str("trace_id") != id {
		t.Fatalf("trace_id %q, traceparent header %q: want the header's trace id in the body", a.Str("trace_id"), a.Header.Get("Traceparent"))
	}
	if message != "" && a.Str("message") != message {
		t.Fatalf("message %q, want %q", a.Str("message"), message)
	}
	if a.Str("message") == "" {
		t.Fatalf("no message in %s", a.Raw)
	}
	if ct := a.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
}
