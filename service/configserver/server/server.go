// Package server is the HTTP face of the config server: Spring Cloud Config's REST protocol
// over a repository of YAML and .properties files.
//
//	GET  /{application}/{profile}[/{label}]            Environment JSON
//	GET  /{application}-{profile}.{yml|yaml|properties|json}
//	GET  /{label}/{application}-{profile}.{ext}        the merged document in that format
//	GET  /{application}/{profile}/{label}/{path}       a plain file, placeholders resolved
//	     (/{application}/{profile}/{path}?useDefaultLabel=true at the default label)
//	POST /encrypt, /decrypt[/{name}/{profiles}]; GET /encrypt/status, /key   {cipher} values
//	GET  /actuator/health                              {"status":"UP"}
//
// Every name in a path is checked, after percent-decoding each segment on its own, before
// anything is read: backslashes, `..`, a leading dot and anything outside [A-Za-z0-9_.,()+@-]
// get 400, which closes the traversal tricks of CVE-2019-3799, CVE-2020-5405 and CVE-2020-5410
// by construction.
package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/cipher"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo"
)

// maxCipherBody bounds what /encrypt and /decrypt accept.
const maxCipherBody = 64 << 10

// Options configure a Server.
type Options struct {
	Repo repo.Repository
	// Cipher decrypts {cipher} values and serves /encrypt and /decrypt; nil when no key is set.
	Cipher *cipher.TextEncryptor
	// Username and Password turn on HTTP basic auth for everything but the health check.
	Username, Password string
}

// Server answers Spring Cloud Config requests.
type Server struct {
	repo               repo.Repository
	cipher             *cipher.TextEncryptor
	username, password string
}

// New returns the server's HTTP handler.
func New(o Options) *Server {
	return &Server{repo: o.Repo, cipher: o.Cipher, username: o.Username, password: o.Password}
}

var (
	// segmentChars are the only characters a path segment may hold.
	segmentChars = regexp.MustCompile(`^[A-Za-z0-9_.,()+@-]+$`)
	// nameRule allows (_) for "/", as Spring does: foo(_)app reads foo/app.yml.
	nameRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(\(_\)[A-Za-z0-9][A-Za-z0-9_.-]*)*$`)
	// profileRule allows + and @ too, as Spring does (a profile names files, never a path).
	profileRule  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+@-]*$`)
	labelRule    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(\(_\)[A-Za-z0-9][A-Za-z0-9_.-]*)*$`)
	documentRule = regexp.MustCompile(`^(.+)-([^-]+)\.(yml|yaml|properties|json)$`)
	// keyPrefixes are Spring's {key:...} prefixes of a text to encrypt.
	keyPrefixes = regexp.MustCompile(`^(\{[A-Za-z]+:[^}]*\})+`)
	// profileExtension is a profile that ends as a document does.
	profileExtension = regexp.MustCompile(`\.(yml|yaml|properties|json)$`)
)

// maxSegment bounds the length of one path segment.
const maxSegment = 255

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segments, err := checkPath(r)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if len(segments) == 2 && segments[0] == "actuator" && segments[1] == "health" {
		s.health(w, r)
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="config-server", charset="UTF-8"`)
		writeError(w, r, http.StatusUnauthorized, "credentials required")
		return
	}
	switch {
	case len(segments) == 2 && segments[0] == "encrypt" && segments[1] == "status":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		if s.cipher == nil {
			writeNoKey(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
	case (len(segments) == 1 || len(segments) == 3) && (segments[0] == "encrypt" || segments[0] == "decrypt"):
		// /encrypt/{name}/{profiles} names the key of an application; there is one key here.
		if !allow(w, r, http.MethodPost) || !cipherTarget(w, r, segments[1:]) {
			return
		}
		s.cipherText(w, r, segments[0] == "encrypt")
	case (len(segments) == 1 || len(segments) == 3) && segments[0] == "key":
		if !allow(w, r, http.MethodGet, http.MethodHead) || !cipherTarget(w, r, segments[1:]) {
			return
		}
		if s.cipher == nil {
			writeNoKey(w)
			return
		}
		// Only an RSA key has a public key to give; ours is symmetric.
		writeSpringError(w, http.StatusNotFound, "NOT_FOUND", "No public key available")
	case len(segments) == 1 && documentRule.MatchString(segments[0]):
		s.document(w, r, "", segments[0])
	case len(segments) == 2 && documentRule.MatchString(segments[1]):
		s.document(w, r, segments[0], segments[1])
	case len(segments) >= 3 && r.URL.Query().Get("useDefaultLabel") != "" && r.URL.Query().Get("useDefaultLabel") != "false":
		s.plainFile(w, r, segments[0], segments[1], "", strings.Join(segments[2:], "/"))
	case len(segments) >= 4:
		s.plainFile(w, r, segments[0], segments[1], segments[2], strings.Join(segments[3:], "/"))
	case len(segments) == 2 && profileExtension.MatchString(segments[1]):
		// /foo/dev.yml names no document (those are /foo-dev.yml) and no profile: Spring's 404.
		writeError(w, r, http.StatusNotFound, "no such resource: a document is /{application}-{profile}.{ext}")
	case len(segments) == 2 || len(segments) == 3:
		label := ""
		if len(segments) == 3 {
			label = segments[2]
		}
		s.serveEnvironment(w, r, segments[0], segments[1], label)
	default:
		writeError(w, r, http.StatusNotFound, "no such resource: the paths are /{application}/{profile}[/{label}], /[{label}/]{application}-{profile}.{yml|yaml|properties|json} and /{application}/{profile}/{label}/{file}")
	}
}

// checkPath returns the path's segments, each percent-decoded (clients send `dev%2Cprod` for
// `dev,prod`), once every one is known to be harmless. The path is split as the client sent it
// and each segment decoded on its own, so an encoded slash never makes a segment; a decoded
// segment must then hold only [A-Za-z0-9_.,()+@-], not start with a dot and hold no "..".
// Anything encoded twice still holds a "%" after decoding, and is refused.
func checkPath(r *http.Request) ([]string, error) {
	raw := r.URL.EscapedPath()
	if requestPath, _, _ := strings.Cut(r.RequestURI, "?"); strings.HasPrefix(requestPath, "/") {
		raw = requestPath // judge what the client sent, before any decoding
	}
	switch {
	case strings.Contains(raw, `\`):
		return nil, errors.New("backslashes are not allowed in the path")
	case !strings.HasPrefix(raw, "/"):
		return nil, errors.New("the path must be absolute")
	}
	path := strings.TrimPrefix(raw, "/")
	if path == "" {
		return nil, nil
	}
	segments := strings.Split(path, "/")
	for i, seg := range segments {
		decoded, err := url.PathUnescape(seg)
		switch {
		case err != nil:
			return nil, fmt.Errorf("path segment %q is not well percent-encoded", seg)
		case decoded == "":
			return nil, errors.New("empty path segments are not allowed")
		case len(decoded) > maxSegment:
			return nil, fmt.Errorf("path segments are limited to %d characters", maxSegment)
		case !segmentChars.MatchString(decoded):
			return nil, fmt.Errorf("path segment %q holds characters outside [A-Za-z0-9_.,()+@-]", decoded)
		case strings.HasPrefix(decoded, "."):
			return nil, fmt.Errorf("path segment %q starts with a dot", decoded)
		case strings.Contains(decoded, ".."):
			return nil, errors.New(`".." is not allowed in the path`)
		}
		segments[i] = decoded
	}
	return segments, nil
}

// parseRequest validates the application names, profiles and labels of a request, each a
// comma-separated list (Spring serves `/foo,bar/dev/master,raw`).
func parseRequest(application, profiles, label string) (apps, profileList, labels []string, err error) {
	apps = strings.Split(application, ",")
	for _, a := range apps {
		if !nameRule.MatchString(a) {
			return nil, nil, nil, fmt.Errorf("invalid application name %q", a)
		}
	}
	profileList = cloudconfig.SplitProfiles(profiles)
	if len(profileList) == 0 {
		return nil, nil, nil, errors.New("at least one profile is required")
	}
	for _, p := range profileList {
		if !profileRule.MatchString(p) {
			return nil, nil, nil, fmt.Errorf("invalid profile %q", p)
		}
	}
	labels = []string{""}
	if label != "" {
		labels = strings.Split(label, ",")
		for _, l := range labels {
			if !labelRule.MatchString(l) {
				return nil, nil, nil, fmt.Errorf("invalid label %q", l)
			}
		}
	}
	return apps, profileList, labels, nil
}

// v2MediaType asks for the Environment with each value's origin, as Spring's clients do.
const v2MediaType = "application/vnd.spring-cloud.config-server.v2+json"

func (s *Server) serveEnvironment(w http.ResponseWriter, r *http.Request, application, profiles, label string) {
	env, ok := s.requested(w, r, application, profiles, label)
	if !ok {
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), v2MediaType) {
		writeJSON(w, http.StatusOK, env)
		return
	}
	// The same Environment, each value as {"value", "origin": "line:column"}.
	type source struct {
		Name   string          `json:"name"`
		Source json.RawMessage `json:"source"`
	}
	v2 := struct {
		cloudconfig.Environment
		PropertySources []source `json:"propertySources"`
	}{Environment: env, PropertySources: []source{}}
	for _, ps := range env.PropertySources {
		body, err := ps.Source.MarshalJSONWithOrigins()
		if err != nil {
			writeError(w, r, http.StatusInternalServerError, "cannot encode the response")
			return
		}
		v2.PropertySources = append(v2.PropertySources, source{Name: ps.Name, Source: body})
	}
	w.Header().Set("Content-Type", v2MediaType)
	body, err := json.Marshal(v2)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "cannot encode the response")
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(append(body, '\n'))
}

// requested validates a GET for the Environment of application, profiles and label and reads
// it; on failure it has answered the request and returns false.
func (s *Server) requested(w http.ResponseWriter, r *http.Request, application, profiles, label string) (cloudconfig.Environment, bool) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return cloudconfig.Environment{}, false
	}
	apps, list, labels, err := parseRequest(application, profiles, label)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return cloudconfig.Environment{}, false
	}
	env, err := s.environment(r.Context(), apps, list, labels)
	if err != nil {
		writeRepoError(w, r, err)
		return cloudconfig.Environment{}, false
	}
	return env, true
}

// document serves the merged properties of one application and profile as YAML, .properties or
// JSON, with placeholders resolved against the document itself unless ?resolvePlaceholders=false.
func (s *Server) document(w http.ResponseWriter, r *http.Request, label, file string) {
	m := documentRule.FindStringSubmatch(file)
	application, profiles, format := m[1], m[2], m[3]
	env, ok := s.requested(w, r, application, profiles, label)
	if !ok {
		return
	}
	merged := withoutProfileKey(cloudconfig.Merge(env.PropertySources))
	if r.URL.Query().Get("resolvePlaceholders") != "false" {
		merged = resolveWithin(merged)
	}
	// Spring merges into a TreeMap: every rendering lists the keys sorted (list elements too:
	// list[10] before list[2]), and the nested ones nest in that order.
	merged = sortedByKey(merged)
	if format == "properties" {
		// Escaped, unlike Spring's, so that the answer reads back as the same properties.
		var b strings.Builder
		for _, k := range merged.Keys() {
			v, _ := merged.Get(k)
			fmt.Fprintf(&b, "%s: %s\n", cloudconfig.EscapeProperty(k, true), cloudconfig.EscapeProperty(cloudconfig.FormatValue(v), false))
		}
		writeText(w, "text/plain; charset=utf-8", []byte(b.String()))
		return
	}
	tree, err := cloudconfig.Nest(merged)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, fmt.Sprintf("cannot render %s as %s: %v", file, format, err))
		return
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, tree)
		return
	}
	body, err := tree.YAML()
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, fmt.Sprintf("render %s: %v", file, err))
		return
	}
	writeText(w, "text/plain; charset=utf-8", body)
}

// sortedByKey is p with its keys in the order of Java's String.compareTo (UTF-16 code units,
// which differs from Go's byte order only past U+FFFF), as in Spring's TreeMap.
func sortedByKey(p cloudconfig.Properties) cloudconfig.Properties {
	type key struct {
		name  string
		units []uint16 // encoded once, not at every comparison
	}
	keys := make([]key, 0, p.Len())
	for _, k := range p.Keys() {
		keys = append(keys, key{k, utf16.Encode([]rune(k))})
	}
	slices.SortFunc(keys, func(a, b key) int { return slices.Compare(a.units, b.units) })
	var sorted cloudconfig.Properties
	for _, k := range keys {
		sorted.Copy(p, k.name)
	}
	return sorted
}

// plainFile serves a file of the repository at label, as Spring's ResourceController does:
// its ${placeholders} resolved against application and profiles (unless the client asks for
// application/octet-stream or ?resolvePlaceholders=false), a label's folder before the root.
func (s *Server) plainFile(w http.ResponseWriter, r *http.Request, application, profiles, label, file string) {
	env, ok := s.requested(w, r, application, profiles, label)
	if !ok {
		return
	}
	_, _, labels, _ := parseRequest(application, profiles, label)
	snap, err := s.repo.Snapshot(labels[0])
	if err != nil {
		writeRepoError(w, r, err)
		return
	}
	var data []byte
	err = fs.ErrNotExist
	if snap.Labelled != nil {
		data, err = snap.Labelled.ReadPath(file)
	}
	if errors.Is(err, fs.ErrNotExist) {
		data, err = snap.ReadPath(file)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		writeError(w, r, http.StatusNotFound, "no such file: "+file)
		return
	case err != nil:
		writeRepoError(w, r, err)
		return
	}
	contentType := mime.TypeByExtension(path.Ext(file))
	if contentType == "" {
		contentType = "text/plain; charset=utf-8"
	}
	binary := strings.Contains(r.Header.Get("Accept"), "application/octet-stream")
	if !binary && r.URL.Query().Get("resolvePlaceholders") != "false" && utf8.Valid(data) {
		merged := cloudconfig.Merge(env.PropertySources)
		lookup := func(key string) (string, bool) {
			v, ok := merged.Get(key)
			return cloudconfig.FormatValue(v), ok
		}
		if resolved, err := cloudconfig.Resolve(string(data), lookup, true); err == nil {
			data = []byte(resolved)
		}
	}
	if binary {
		contentType = "application/octet-stream"
	}
	writeText(w, contentType, data)
}

// withoutProfileKey drops spring.profiles, which says which profiles a document applies to and
// is no setting: Spring leaves it out of the documents it renders.
func withoutProfileKey(p cloudconfig.Properties) cloudconfig.Properties {
	var out cloudconfig.Properties
	for _, k := range p.Keys() {
		if k != "spring.profiles" {
			v, _ := p.Get(k)
			out.Set(k, v)
		}
	}
	return out
}

// resolveWithin resolves placeholders against the other keys of p, leaving unknown ones as
// written. The server's own environment is never consulted: it may hold secrets.
func resolveWithin(p cloudconfig.Properties) cloudconfig.Properties {
	lookup := func(key string) (string, bool) {
		v, ok := p.Get(key)
		return cloudconfig.FormatValue(v), ok
	}
	var out cloudconfig.Properties
	for _, k := range p.Keys() {
		v, _ := p.Get(k)
		if text, ok := v.(string); ok && strings.Contains(text, "${") {
			if resolved, err := cloudconfig.Resolve(text, lookup, true); err == nil {
				v = resolved
			}
		}
		out.Set(k, v)
	}
	return out
}

// cipherTarget checks the {name}/{profiles} of a key request, if any.
func cipherTarget(w http.ResponseWriter, r *http.Request, nameAndProfiles []string) bool {
	if len(nameAndProfiles) == 0 {
		return true
	}
	if _, _, _, err := parseRequest(nameAndProfiles[0], nameAndProfiles[1], ""); err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// writeSpringError answers an error of the encryption endpoints in Spring's form
// ({"status": "NO_KEY", "description": "..."}) and in ours ({"code", "message", "trace_id"}) at once.
func writeSpringError(w http.ResponseWriter, code int, status, description string) {
	body := map[string]any{"code": code, "message": description, "status": status, "description": description}
	if id := tracing.TraceIDOfTraceparent(w.Header().Get("Traceparent")); id != "" {
		body["trace_id"] = id
	}
	writeJSON(w, code, body)
}

func writeNoKey(w http.ResponseWriter) {
	writeSpringError(w, http.StatusNotFound, "NO_KEY", "No key was installed for encryption service (set ENCRYPT_KEY)")
}

func (s *Server) cipherText(w http.ResponseWriter, r *http.Request, encrypt bool) {
	if s.cipher == nil {
		writeNoKey(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCipherBody))
	if err != nil {
		writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is limited to %d bytes", maxCipherBody))
		return
	}
	text := string(body)
	// curl -d sends a form: Spring strips the "=" it adds to a bare value and URL-decodes it.
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if decoded, err := url.QueryUnescape(strings.TrimSuffix(text, "=")); err == nil {
			text = decoded
		}
	}
	if text == "" {
		writeError(w, r, http.StatusBadRequest, "nothing to "+map[bool]string{true: "encrypt", false: "decrypt"}[encrypt])
		return
	}
	var out string
	if encrypt {
		// {key:name}{secret:...} prefixes choose a key in Spring's key stores; there is one
		// key here, and Spring strips them before encrypting too.
		text = keyPrefixes.ReplaceAllString(text, "")
		out, err = s.cipher.Encrypt(text)
	} else {
		out, err = s.cipher.Decrypt(strings.TrimPrefix(text, cipher.Prefix))
	}
	if errors.Is(err, cipher.ErrInvalid) {
		writeSpringError(w, http.StatusBadRequest, "INVALID", "Text not encrypted with this key")
		return
	}
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	writeText(w, "text/plain; charset=utf-8", []byte(out))
}

// health is UP when the default label of the repository can be read.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if _, err := s.repo.Snapshot(""); err != nil {
		tracing.Printf(r.Context(), "health: %v", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "DOWN"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "UP"})
}

func (s *Server) authorized(r *http.Request) bool {
	if s.password == "" {
		return true
	}
	user, password, ok := r.BasicAuth()
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.username)) == 1
	passwordOK := subtle.ConstantTimeCompare([]byte(password), []byte(s.password)) == 1
	return ok && userOK && passwordOK
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed here; use %s", r.Method, strings.Join(methods, " or ")))
	return false
}

func writeRepoError(w http.ResponseWriter, r *http.Request, err error) {
	var fileErr *FileError
	switch {
	case errors.Is(err, repo.ErrNoSuchLabel):
		writeError(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, repo.ErrUnavailable):
		tracing.Printf(r.Context(), "%v", err)
		writeError(w, r, http.StatusServiceUnavailable, "the configuration repository is unavailable")
	case errors.As(err, &fileErr):
		tracing.Printf(r.Context(), "%v", err)
		writeError(w, r, http.StatusInternalServerError, err.Error())
	default:
		tracing.Printf(r.Context(), "%v", err)
		writeError(w, r, http.StatusInternalServerError, "cannot read the configuration repository")
	}
}

// writeError answers an error in Spring Boot's shape (timestamp, status, error, path), which
// Spring's clients and tools read, and in the stack's (code, message, trace_id) at once.
func writeError(w http.ResponseWriter, r *http.Request, status int, message string) {
	body := map[string]any{
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000-07:00"),
		"status":    status,
		"error":     http.StatusText(status),
		"path":      r.URL.Path,
		"code":      status,
		"message":   message,
	}
	if id := tracing.TraceIDOfTraceparent(w.Header().Get("Traceparent")); id != "" {
		body["trace_id"] = id
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		log.Printf("encode response: %v", err)
		envelope.Write(w, http.StatusInternalServerError, "cannot encode the response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeText(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}
