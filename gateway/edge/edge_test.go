package edge

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newHandler(c Config, reached *string) http.Handler {
	return Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		*reached = string(body)
		w.Write([]byte(`{"code":0,"message":"ok"}`))
	}))
}

var testConfig = Config{
	Known:        Paths("/user/login", "/greeter/hello"),
	MaxBodyBytes: 16,
	CORSOrigins:  []string{"https://app.example"},
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) (int, string) {
	t.Helper()
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	return body.Code, body.Message
}

func TestRoutesAndLimits(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		wantStatus               int
	}{
		{"listed route", "POST", "/greeter/hello", `{"name":"x"}`, 200},
		{"listed route, unclean", "POST", "/greeter//hello/", `{}`, 200},
		{"unknown route", "POST", "/nope", ``, 404},
		{"internal endpoint", "POST", "/user/getUserInfo", ``, 404},
		{"rpc passthrough", "POST", "/rpc", `{}`, 404},
		{"root", "GET", "/", ``, 404},
		{"body at limit", "POST", "/user/login", strings.Repeat("a", 16), 200},
		{"body over limit", "POST", "/user/login", strings.Repeat("a", 17), 413},
		{"health", "GET", "/health", ``, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reached string
			rec := httptest.NewRecorder()
			newHandler(testConfig, &reached).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus >= 400 {
				if code, _ := decode(t, rec); code != tc.wantStatus {
					t.Fatalf("code %d", code)
				}
			} else if tc.path != "/health" && reached != tc.body {
				t.Fatalf("backend got body %q, want %q", reached, tc.body)
			}
		})
	}
}

func TestBodyOverLimitWithoutContentLength(t *testing.T) {
	var reached string
	req := httptest.NewRequest("POST", "/user/login", io.NopCloser(strings.NewReader(strings.Repeat("a", 100))))
	req.ContentLength = -1 // chunked: the size is only known by reading
	rec := httptest.NewRecorder()
	newHandler(testConfig, &reached).ServeHTTP(rec, req)
	if rec.Code != 413 || reached != "" {
		t.Fatalf("status %d, backend got %q", rec.Code, reached)
	}
}

func TestCORS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		origins    []string
		origin     string
		wantOrigin string
		wantCreds  string
	}{
		{"listed origin", []string{"https://app.example"}, "https://app.example", "https://app.example", "true"},
		{"unlisted origin", []string{"https://app.example"}, "https://evil.example", "", ""},
		{"wildcard never with credentials", []string{"*"}, "https://any.example", "*", ""},
		{"no CORS configured", nil, "https://app.example", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig
			c.CORSOrigins = tc.origins
			var reached string
			for _, method := range []string{"POST", "OPTIONS"} {
				req := httptest.NewRequest(method, "/greeter/hello", nil)
				req.Header.Set("Origin", tc.origin)
				if method == "OPTIONS" {
					req.Header.Set("Access-Control-Request-Method", "POST")
				}
				rec := httptest.NewRecorder()
				newHandler(c, &reached).ServeHTTP(rec, req)
				h := rec.Header()
				if h.Get("Access-Control-Allow-Origin") != tc.wantOrigin || h.Get("Access-Control-Allow-Credentials") != tc.wantCreds {
					t.Fatalf("%s: origin %q creds %q", method, h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
				}
				if h.Get("Access-Control-Allow-Origin") == "*" && h.Get("Access-Control-Allow-Credentials") != "" {
					t.Fatal("wildcard with credentials")
				}
			}
		})
	}
}

func TestInvalidUTF8IsRefusedBeforeRouting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(r *http.Request)
		body    string
		want    int
	}{
		{"clean request", func(*http.Request) {}, `{"name":"Zoë"}`, 200},
		{"query", func(r *http.Request) { r.URL.RawQuery = "x=%ff" }, `{}`, 400},
		{"query key", func(r *http.Request) { r.URL.RawQuery = "%c3=1" }, `{}`, 400},
		{"query escape", func(r *http.Request) { r.URL.RawQuery = "x=%zz" }, `{}`, 400},
		{"header value", func(r *http.Request) { r.Header.Set("X-Note", "caf\xe9") }, `{}`, 400},
		{"cookie", func(r *http.Request) { r.Header.Set("Cookie", "a=\xff") }, `{}`, 400},
		{"UTF-8 header value", func(r *http.Request) { r.Header.Set("X-Note", "café") }, `{}`, 200},
		{"body", func(*http.Request) {}, "{\"name\":\"\xff\"}", 400},
		{"form body", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, "name=%ff", 400},
		{"host", func(r *http.Request) { r.Host = "\xffexample" }, `{}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reached string
			c := testConfig
			c.MaxBodyBytes = 1 << 10
			req := httptest.NewRequest("POST", "/greeter/hello", strings.NewReader(tc.body))
			tc.prepare(req)
			rec := httptest.NewRecorder()
			newHandler(c, &reached).ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 400 {
				if code, msg := decode(t, rec); code != 400 || msg == "" || reached != "" {
					t.Fatalf("code %d message %q, backend got %q", code, msg, reached)
				}
			}
		})
	}
	// An invalid path is no listed route (404), and malformed refuses it too.
	if problem := malformed(httptest.NewRequest("POST", "/user/login%ff", nil), nil); problem == "" {
		t.Fatal("a path with an invalid byte passed")
	}
}

func TestOpenAPIDocument(t *testing.T) {
	doc := []byte("openapi: 3.0.3\n")
	var reached string
	c := testConfig
	c.OpenAPI = func() ([]byte, error) { return doc, nil }
	h := newHandler(c, &reached)
	for _, tc := range []struct {
		method string
		status int
		body   string
	}{
		{"GET", 200, string(doc)},
		{"HEAD", 200, ""},
		{"POST", 404, ""}, // no route of the API
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/openapi.yaml", nil))
		if rec.Code != tc.status || (tc.status == 200 && (rec.Body.String() != tc.body || rec.Header().Get("Content-Type") != "application/yaml")) {
			t.Errorf("%s: %d %q %v", tc.method, rec.Code, rec.Body, rec.Header())
		}
	}
	if reached != "" {
		t.Fatalf("the document reached the backend: %q", reached)
	}
}

// BenchmarkMalformed is the cost of the edge's checks of the text on a typical hello (UTF-8):
// a dozen headers, a token, a small JSON body.
func BenchmarkMalformed(b *testing.B) {
	r := httptest.NewRequest("POST", "/greeter/hello", nil)
	for _, h := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Connection", "Content-Type", "User-Agent", "X-Forwarded-For", "X-Request-Id"} {
		r.Header.Set(h, "some ordinary value of a typical length, in ASCII")
	}
	r.Header.Set("Authorization", "Bearer "+strings.Repeat("eyJhbGciOiJIUzI1NiJ9", 10))
	body := []byte(`{"name":"Bob"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if malformed(r, body) != "" {
			b.Fatal("refused")
		}
	}
}

func TestHeadersOverTheLimit(t *testing.T) {
	c := testConfig
	c.MaxHeaderBytes = 1 << 10
	for _, tc := range []struct {
		name  string
		value string
		want  int
	}{
		{"small", "x", 200},
		{"over", strings.Repeat("x", 1<<10), 431},
	} {
		var reached string
		req := httptest.NewRequest("POST", "/greeter/hello", strings.NewReader(`{}`))
		req.Header.Set("X-Big", tc.value)
		rec := httptest.NewRecorder()
		newHandler(c, &reached).ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
		}
		if code, _ := decode(t, rec); tc.want == 431 && code != 431 {
			t.Fatalf("%s: code %d", tc.name, code)
		}
	}
}
