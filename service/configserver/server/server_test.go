package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/cipher"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo/repotest"
)

const springFixtures = "../../../internal/cloudconfig/testdata/spring"

// newServer serves a folder with files (name → content).
func newServer(t *testing.T, files map[string]string, o Options) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return serve(t, dir, o)
}

func serve(t *testing.T, uri string, o Options) *httptest.Server {
	t.Helper()
	r, err := repo.Open(repo.Config{URI: uri})
	if err != nil {
		t.Fatal(err)
	}
	o.Repo = r
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, contentType, body string, setup ...func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, f := range setup {
		f(req)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return response{rsp.StatusCode, rsp.Header, string(b)}
}

func get(t *testing.T, url string) response { return do(t, "GET", url, "", "") }

func environment(t *testing.T, rsp response) cloudconfig.Environment {
	t.Helper()
	if rsp.status != 200 {
		t.Fatalf("status %d: %s", rsp.status, rsp.body)
	}
	var env cloudconfig.Environment
	if err := json.Unmarshal([]byte(rsp.body), &env); err != nil {
		t.Fatalf("%v: %s", err, rsp.body)
	}
	return env
}

// sourceFiles lists the file part of each property source name.
func sourceFiles(env cloudconfig.Environment) []string {
	var out []string
	for _, s := range env.PropertySources {
		out = append(out, path.Base(s.Name))
	}
	return out
}

func expectError(t *testing.T, rsp response, status int, message string) {
	t.Helper()
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		// Spring Boot's error attributes.
		Timestamp string `json:"timestamp"`
		Status    any    `json:"status"`
		Error     string `json:"error"`
		Path      string `json:"path"`
	}
	if err := json.Unmarshal([]byte(rsp.body), &body); err != nil || rsp.status != status || body.Code != status || !strings.Contains(body.Message, message) {
		t.Fatalf("got %d %s; want %d with a message containing %q", rsp.status, rsp.body, status, message)
	}
	if strings.Contains(rsp.body, `"description"`) {
		return // the encryption endpoints' own shape: {"status": "INVALID", "description": ...}
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", body.Timestamp); err != nil || body.Status != float64(status) ||
		body.Error != http.StatusText(status) || !strings.HasPrefix(body.Path, "/") {
		t.Fatalf("got %s; want Spring Boot's timestamp, status, error and path too", rsp.body)
	}
}

// TestSpringCompatibility serves the files of Spring's sample repository and compares the
// answers with the responses Spring Cloud Config documents for them.
func TestSpringCompatibility(t *testing.T) {
	srv := serve(t, filepath.Join(springFixtures, "repo"), Options{})
	fixtures, _ := filepath.Glob(filepath.Join(springFixtures, "*.json"))
	if len(fixtures) < 3 {
		t.Fatalf("fixtures missing: %v", fixtures)
	}
	for _, fixture := range fixtures {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			raw, _ := os.ReadFile(fixture)
			var want cloudconfig.Environment
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			got := environment(t, get(t, srv.URL+"/"+want.Name+"/"+strings.Join(want.Profiles, ",")))
			if strings.Join(sourceFiles(got), " ") != strings.Join(sourceFiles(want), " ") {
				t.Fatalf("property sources %v, want %v", sourceFiles(got), sourceFiles(want))
			}
			for i := range want.PropertySources {
				g, _ := json.Marshal(got.PropertySources[i].Source)
				w, _ := json.Marshal(want.PropertySources[i].Source)
				if string(g) != string(w) {
					t.Errorf("%s:\n got %s\nwant %s", sourceFiles(want)[i], g, w)
				}
			}
			if got.Name != want.Name || strings.Join(got.Profiles, ",") != strings.Join(want.Profiles, ",") || got.Label != nil || got.Version != nil || got.State != nil {
				t.Errorf("header: %+v", got)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	srv := newServer(t, map[string]string{
		"application.yml":        "k: application.yml\n",
		"application-dev.yml":    "k: application-dev.yml\n",
		"app.yml":                "k: app.yml\n",
		"app.properties":         "k=app.properties\n",
		"app-dev.yaml":           "k: app-dev.yaml\n",
		"app-test.yml":           "k: app-test.yml\n---\nspring.config.activate.on-profile: dev\nk: app-test.yml (dev document)\n",
		"other.yml":              "k: other\n",
		"application-prod.yml":   "---\nspring:\n  profiles: prod\nk: only for prod\n",
		"application-unused.yml": "k: never\n",
	}, Options{})
	for _, tc := range []struct {
		path string
		want []string
		k    string
	}{
		{"/app/dev", []string{"app-dev.yaml", "application-dev.yml", "app.properties", "app.yml", "application.yml"}, "app-dev.yaml"},
		// The later profile wins; a later document of a file is more specific than an earlier
		// one, each a source of its own, named as Spring Boot names them (a file of several
		// documents: " (document #N)", from 0; a file of one: its name).
		{"/app/dev,test", []string{"app-test.yml (document #1)", "app-test.yml (document #0)", "app-dev.yaml", "application-dev.yml", "app.properties", "app.yml", "application.yml"}, "app-test.yml (dev document)"},
		{"/app/test,dev", []string{"app-dev.yaml", "application-dev.yml", "app-test.yml (document #1)", "app-test.yml (document #0)", "app.properties", "app.yml", "application.yml"}, "app-dev.yaml"},
		{"/app/test", []string{"app-test.yml (document #0)", "app.properties", "app.yml", "application.yml"}, "app-test.yml"},
		{"/nobody/default", []string{"application.yml"}, "application.yml"},
		{"/application/dev", []string{"application-dev.yml", "application.yml"}, "application-dev.yml"},
		{"/app/prod", []string{"application-prod.yml", "app.properties", "app.yml", "application.yml"}, "only for prod"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			env := environment(t, get(t, srv.URL+tc.path))
			if strings.Join(sourceFiles(env), "|") != strings.Join(tc.want, "|") {
				t.Fatalf("sources %q\nwant    %q", sourceFiles(env), tc.want)
			}
			if v, _ := cloudconfig.Merge(env.PropertySources).Get("k"); v != tc.k {
				t.Fatalf("k = %v, want %s", v, tc.k)
			}
		})
	}
}

func TestGitLabelsAndVersion(t *testing.T) {
	g := repotest.Init(t, t.TempDir())
	first := g.Commit(map[string]string{"app.yml": "greeting: first\n"}, "first")
	g.Tag("v1", first, true)
	second := g.Commit(map[string]string{"app.yml": "greeting: second\n"}, "second")
	srv := serve(t, g.Dir, Options{})

	for _, tc := range []struct {
		path, label, version, greeting string
	}{
		{"/app/default", "main", second, "second"},
		{"/app/default/main", "main", second, "second"},
		{"/app/default/v1", "v1", first, "first"},
		{"/app/default/" + first, first, first, "first"},
	} {
		env := environment(t, get(t, srv.URL+tc.path))
		if env.Label == nil || *env.Label != tc.label || env.Version == nil || *env.Version != tc.version {
			t.Fatalf("%s: label %v version %v", tc.path, env.Label, env.Version)
		}
		if v, _ := env.PropertySources[0].Source.Get("greeting"); v != tc.greeting {
			t.Fatalf("%s: greeting %v", tc.path, v)
		}
	}
	if rsp := get(t, srv.URL+"/v1/app-default.yml"); rsp.body != "greeting: first\n" {
		t.Fatalf("labelled document: %d %q", rsp.status, rsp.body)
	}
	expectError(t, get(t, srv.URL+"/app/default/nope"), 404, "no such label: nope")
	expectError(t, get(t, srv.URL+"/nope/app-default.yml"), 404, "no such label")
}

func TestDocuments(t *testing.T) {
	srv := newServer(t, map[string]string{
		"application.yml": "shared: yes\nhost: db.local\nurl: jdbc://${host}/x\nmissing: ${NOT_SET}\nrate: 1.5\n",
		"app.yml":         "servers:\n  - a\n  - b\nname: \"app: the=best\"\n",
		"app-dev.yml":     "host: dev.local\n",
		"numbers.yml":     "up: .inf\ndown: -.inf\nnothing: .nan\nlist: [a, b, c, d, e, f, g, h, i, j, k]\n",
	}, Options{})
	for _, tc := range []struct{ path, contentType, want string }{
		// Spring's TreeMap: every rendering in key order.
		{"/app-dev.yml", "text/plain", "host: dev.local\nmissing: ${NOT_SET}\nname: 'app: the=best'\nrate: 1.5\nservers:\n  - a\n  - b\nshared: true\nurl: jdbc://dev.local/x\n"},
		{"/app-dev.yaml?resolvePlaceholders=false", "text/plain", "host: dev.local\nmissing: ${NOT_SET}\nname: 'app: the=best'\nrate: 1.5\nservers:\n  - a\n  - b\nshared: true\nurl: jdbc://${host}/x\n"},
		{"/app-dev.json", "application/json", `{"host":"dev.local","missing":"${NOT_SET}","name":"app: the=best","rate":1.5,"servers":["a","b"],"shared":true,"url":"jdbc://dev.local/x"}` + "\n"},
		{"/app-dev.properties", "text/plain", "host: dev.local\nmissing: ${NOT_SET}\nname: app: the=best\nrate: 1.5\nservers[0]: a\nservers[1]: b\nshared: true\nurl: jdbc://dev.local/x\n"},
		// Infinities and NaN as Spring writes them: SnakeYAML's .inf and .NaN, Jackson's strings,
		// Java's Double.toString; list elements sorted as strings (TreeMap), nested by index.
		{"/numbers-default.yml", "text/plain", "down: -.inf\nhost: db.local\nlist:\n  - a\n  - b\n  - c\n  - d\n  - e\n  - f\n  - g\n  - h\n  - i\n  - j\n  - k\nmissing: ${NOT_SET}\nnothing: .NaN\nrate: 1.5\nshared: true\nup: .inf\nurl: jdbc://db.local/x\n"},
		{"/numbers-default.json", "application/json", `{"down":"-Infinity","host":"db.local","list":["a","b","c","d","e","f","g","h","i","j","k"],"missing":"${NOT_SET}","nothing":"NaN","rate":1.5,"shared":true,"up":"Infinity","url":"jdbc://db.local/x"}` + "\n"},
		{"/numbers-default.properties", "text/plain", "down: -Infinity\nhost: db.local\nlist[0]: a\nlist[10]: k\nlist[1]: b\nlist[2]: c\nlist[3]: d\nlist[4]: e\nlist[5]: f\nlist[6]: g\nlist[7]: h\nlist[8]: i\nlist[9]: j\nmissing: ${NOT_SET}\nnothing: NaN\nrate: 1.5\nshared: true\nup: Infinity\nurl: jdbc://db.local/x\n"},
	} {
		rsp := get(t, srv.URL+tc.path)
		if rsp.status != 200 || rsp.body != tc.want || !strings.HasPrefix(rsp.header.Get("Content-Type"), tc.contentType) {
			t.Errorf("%s: %d %s\n%s\nwant:\n%s", tc.path, rsp.status, rsp.header.Get("Content-Type"), rsp.body, tc.want)
		}
	}
	// A properties document reads back into the same properties.
	docs, err := cloudconfig.ParsePropertiesDocuments([]byte(get(t, srv.URL+"/app-dev.properties").body))
	if err != nil || len(docs) != 1 {
		t.Fatalf("properties round trip: %d documents, %v", len(docs), err)
	}
	if v, _ := docs[0].Properties.Get("name"); v != "app: the=best" {
		t.Fatalf("properties round trip: %v", v)
	}
}

func TestMalformedFileOnlyHurtsItsApplications(t *testing.T) {
	srv := newServer(t, map[string]string{
		"application.yml":      "ok: true\n",
		"greeter.yml":          "ok: true\n",
		"greeter-prod.yml":     "greetings:\n  string: \"unterminated\n",
		"user-prod.properties": "a=\\u12zz\n",
	}, Options{})
	expectError(t, get(t, srv.URL+"/greeter/prod"), 500, "config file greeter-prod.yml: yaml: line")
	expectError(t, get(t, srv.URL+"/greeter-prod.yml"), 500, "greeter-prod.yml")
	expectError(t, get(t, srv.URL+"/user/prod"), 500, "config file user-prod.properties: line 1")
	for _, ok := range []string{"/greeter/dev", "/user/dev", "/gateway/prod"} {
		if rsp := get(t, srv.URL+ok); rsp.status != 200 {
			t.Errorf("%s: %d %s", ok, rsp.status, rsp.body)
		}
	}
	if rsp := get(t, srv.URL+"/greeter/prod"); strings.Contains(rsp.body, os.TempDir()) {
		t.Errorf("the error names a server path: %s", rsp.body)
	}
}

func TestCipherValues(t *testing.T) {
	key, _ := cipher.New("correct horse battery staple", cipher.DefaultSalt)
	secret, _ := key.Encrypt("s3cret")
	files := map[string]string{
		"app.yml":        "db.password: '{cipher}" + secret + "'\nplain: text\nbroken: '{cipher}00ff'\n",
		"app.properties": "spring.from.spring={cipher}88e3c316444f7f581be8432210e529d0fcb570cad1f1f4740ebe686ab2b852b14ecbf21136e9543148d39fe581ae24ce\n",
	}
	withKey := newServer(t, files, Options{Cipher: key})
	env := environment(t, get(t, withKey.URL+"/app/default"))
	merged := cloudconfig.Merge(env.PropertySources)
	for k, want := range map[string]any{"db.password": "s3cret", "plain": "text", "invalid.broken": "<n/a>", "spring.from.spring": "Hi, a secret from Spring"} {
		if v, _ := merged.Get(k); v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if _, ok := merged.Get("broken"); ok {
		t.Error("an undecryptable value must not be served")
	}

	noKey := environment(t, get(t, newServer(t, files, Options{}).URL+"/app/default"))
	if v, _ := cloudconfig.Merge(noKey.PropertySources).Get("invalid.db.password"); v != "<n/a>" || strings.Contains(get(t, withKey.URL+"/app/default").body, secret) {
		t.Errorf("without a key: invalid.db.password = %v", v)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	key, _ := cipher.New("k", cipher.DefaultSalt)
	srv := newServer(t, nil, Options{Cipher: key})
	enc := do(t, "POST", srv.URL+"/encrypt", "text/plain", "my secret+x=")
	if enc.status != 200 {
		t.Fatalf("encrypt: %d %s", enc.status, enc.body)
	}
	if dec := do(t, "POST", srv.URL+"/decrypt", "text/plain", enc.body); dec.status != 200 || dec.body != "my secret+x=" {
		t.Fatalf("decrypt: %d %q", dec.status, dec.body)
	}
	if dec := do(t, "POST", srv.URL+"/decrypt", "text/plain", "{cipher}"+enc.body); dec.body != "my secret+x=" {
		t.Fatalf("decrypt with prefix: %q", dec.body)
	}
	// curl -d 'value' posts a form; Spring strips the trailing "=" and URL-decodes.
	form := do(t, "POST", srv.URL+"/encrypt", "application/x-www-form-urlencoded", "a%20b=")
	if dec := do(t, "POST", srv.URL+"/decrypt", "text/plain", form.body); dec.body != "a b" {
		t.Fatalf("form: %q", dec.body)
	}
	if rsp := get(t, srv.URL+"/encrypt/status"); rsp.status != 200 || !strings.Contains(rsp.body, `"OK"`) {
		t.Fatalf("status: %d %s", rsp.status, rsp.body)
	}
	expectError(t, do(t, "POST", srv.URL+"/decrypt", "text/plain", "not-cipher-text"), 400, "not encrypted with this key")
	expectError(t, do(t, "POST", srv.URL+"/encrypt", "text/plain", ""), 400, "nothing to encrypt")
	expectError(t, do(t, "POST", srv.URL+"/encrypt", "text/plain", strings.Repeat("x", maxCipherBody+1)), 413, "limited")
	expectError(t, get(t, srv.URL+"/encrypt"), 405, "use POST")

	noKey := newServer(t, nil, Options{})
	expectError(t, do(t, "POST", noKey.URL+"/encrypt", "text/plain", "x"), 404, "ENCRYPT_KEY")
	expectError(t, get(t, noKey.URL+"/encrypt/status"), 404, "No key was installed")

	// Spring's EncryptionController: a key per {name}/{profiles} (one here), no public key
	// for a symmetric one, and its error bodies ({status, description}) beside ours.
	perApp := do(t, "POST", srv.URL+"/encrypt/greeter/dev,prod", "text/plain", "per app")
	if dec := do(t, "POST", srv.URL+"/decrypt/greeter/dev", "text/plain", perApp.body); perApp.status != 200 || dec.body != "per app" {
		t.Fatalf("/encrypt/{name}/{profiles}: %d %q, decrypted %q", perApp.status, perApp.body, dec.body)
	}
	for _, tc := range []struct {
		method, url, body string
		status            int
		springStatus      string
	}{
		{"GET", srv.URL + "/key", "", 404, "NOT_FOUND"},
		{"GET", srv.URL + "/key/greeter/dev", "", 404, "NOT_FOUND"},
		{"GET", noKey.URL + "/key", "", 404, "NO_KEY"},
		{"POST", noKey.URL + "/encrypt/greeter/dev", "x", 404, "NO_KEY"},
		{"POST", srv.URL + "/decrypt", "not-cipher-text", 400, "INVALID"},
		{"POST", srv.URL + "/encrypt/-bad/dev", "x", 400, ""},
	} {
		rsp := do(t, tc.method, tc.url, "text/plain", tc.body)
		var body struct {
			Code        int    `json:"code"`
			Status      string `json:"status"`
			Description string `json:"description"`
		}
		json.Unmarshal([]byte(rsp.body), &body)
		if rsp.status != tc.status || body.Code != tc.status || body.Status != tc.springStatus || (tc.springStatus != "" && body.Description == "") {
			t.Errorf("%s %s: %d %s, want %d with status %q", tc.method, tc.url, rsp.status, rsp.body, tc.status, tc.springStatus)
		}
	}
}

func TestBasicAuthAndHealth(t *testing.T) {
	srv := newServer(t, map[string]string{"app.yml": "a: 1\n"}, Options{Username: "config", Password: "pw"})
	if rsp := get(t, srv.URL+"/actuator/health"); rsp.status != 200 || strings.TrimSpace(rsp.body) != `{"status":"UP"}` {
		t.Fatalf("health must stay open: %d %s", rsp.status, rsp.body)
	}
	rsp := get(t, srv.URL+"/app/default")
	expectError(t, rsp, 401, "credentials required")
	if !strings.HasPrefix(rsp.header.Get("WWW-Authenticate"), "Basic") {
		t.Fatal("no WWW-Authenticate header")
	}
	wrong := do(t, "GET", srv.URL+"/app/default", "", "", func(r *http.Request) { r.SetBasicAuth("config", "nope") })
	expectError(t, wrong, 401, "credentials")
	if ok := do(t, "GET", srv.URL+"/app/default", "", "", func(r *http.Request) { r.SetBasicAuth("config", "pw") }); ok.status != 200 {
		t.Fatalf("with credentials: %d %s", ok.status, ok.body)
	}

	r, _ := repo.Open(repo.Config{URI: "file://" + filepath.Join(t.TempDir(), "gone")})
	down := httptest.NewServer(New(Options{Repo: r}))
	defer down.Close()
	if rsp := get(t, down.URL+"/actuator/health"); rsp.status != 503 || !strings.Contains(rsp.body, "DOWN") {
		t.Fatalf("health of an unreadable repository: %d %s", rsp.status, rsp.body)
	}
	expectError(t, get(t, down.URL+"/app/default"), 503, "unavailable")
}

func TestBadRequests(t *testing.T) {
	srv := newServer(t, map[string]string{"app.yml": "a: 1\n"}, Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		message      string
	}{
		{"GET", "/", 404, "no such resource"},
		{"GET", "/app", 404, "no such resource"},
		{"GET", "/a/b/c/d", 404, "no such file: d"},
		{"GET", "/app/default/main/extra.yml/x", 404, "no such file: extra.yml/x"},
		{"GET", "/-app/default", 400, "invalid application name"},
		{"GET", "/app/,", 400, "at least one profile"},
		{"GET", "/app/dev,-x", 400, "invalid profile"},
		{"GET", "/app/dev/(_)x", 400, "invalid label"},
		{"GET", "/app/dev/x(_)", 400, "invalid label"},
		{"GET", "/app//dev", 400, "empty path segments"},
		{"GET", "/.git/config", 400, "starts with a dot"},
		{"GET", "/app/dev;x=1", 400, "outside [A-Za-z0-9_.,()+@-]"},
		{"GET", "/app/dev%2Fprod", 400, "outside [A-Za-z0-9_.,()+@-]"},
		{"GET", "/app,-x/dev", 400, "invalid application name"},
		{"GET", "/" + strings.Repeat("a", 256) + "/dev", 400, "limited to 255"},
		{"POST", "/app/dev", 405, "use GET"},
		{"DELETE", "/app-dev.yml", 405, "use GET"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			expectError(t, do(t, tc.method, srv.URL+tc.path, "", ""), tc.status, tc.message)
		})
	}
}

// TestTraversalStrings sends, byte for byte, the paths used against Spring Cloud Config's own
// traversal vulnerabilities and their encoded variants. Each must get 400 and nothing else.
func TestTraversalStrings(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "passwd"), []byte("root:x:0:0:secret"), 0o644)
	dir := filepath.Join(outside, "repo")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "application.yml"), []byte("a: 1\n"), 0o644)
	srv := serve(t, dir, Options{})
	addr := strings.TrimPrefix(srv.URL, "http://")

	paths := []string{
		// CVE-2019-3799 and CVE-2020-5405 (resource paths after the label, double-encoded).
		"/foo/default/master/..%252F..%252F..%252F..%252Fetc%252fpasswd",
		"/test/pathtraversal/master/..%252F..%252F..%252F..%252F..%252F..%252Fetc%252Fpasswd",
		"/foo/default/master/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
		// CVE-2020-5405: "(_)" stands for "/" in a label.
		"/foo/default/..(_)..(_)..(_)..(_)etc(_)passwd",
		"/foo/default/..%28_%29..%28_%29..%28_%29..%28_%29etc%28_%29passwd",
		"/foo/default/master/..(_)..(_)passwd",
		"/..(_)..(_)passwd/foo-default.yml",
		// CVE-2020-5410: a double-encoded traversal as the application, cut off with %23.
		"/..%252F..%252F..%252F..%252F..%252F..%252Fetc%252Fpasswd%23foo/development",
		"/..%2F..%2F..%2Fetc%2Fpasswd%23foo/development",
		// Plain, encoded, over-encoded, backslashes, NUL, absolute.
		"/foo/../../passwd",
		"/../passwd/default",
		"/%2e%2e/%2e%2e/passwd/default",
		"/%2e%2e%2f%2e%2e%2fpasswd/default",
		"/%252e%252e%252fpasswd/default",
		"/foo/default/..%5c..%5cpasswd",
		`/foo/default/..\..\passwd`,
		"/foo/default/%00",
		"/passwd%00.yml",
		"//etc/passwd",
		"/foo/default/%2Fetc%2Fpasswd",
		"/%2e%2e/passwd-default.yml",
		"/foo/default/..",
		"/..",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			status, body := rawGet(t, addr, p)
			if status != 400 || strings.Contains(body, "root:") {
				t.Fatalf("got %d %s", status, body)
			}
		})
	}
}

// rawGet sends the request line exactly as given, with no client-side cleaning or encoding.
func rawGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	return rawRequest(t, addr, "GET", path, "")
}

// rawRequest sends method path with a text body, the path exactly as given.
func rawRequest(t *testing.T, addr, method, path, body string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", method, path, addr, len(body), body)
	rsp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b)
}

// TestDotDotRule: paths that only the ".." rule of checkPath refuses (every character allowed,
// no segment starting with a dot), so that the rule is guarded by itself; the resource and
// label handling behind it would refuse some of them again.
func TestDotDotRule(t *testing.T) {
	for _, p := range []string{
		"/foo/default/x..(_)..(_)passwd",
		"/a..b/default",
	} {
		_, err := checkPath(httptest.NewRequest("GET", p, nil))
		if err == nil || !strings.Contains(err.Error(), `".."`) {
			t.Errorf("%s: %v, want the \"..\" rule to refuse it", p, err)
		}
	}
	if _, err := checkPath(httptest.NewRequest("GET", "/foo/default/v1.2", nil)); err != nil {
		t.Errorf("a label with single dots: %v", err)
	}
}
