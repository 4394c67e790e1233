package server

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/cipher"
	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo/repotest"
)

// springTestdata holds Spring Cloud Config's own fixtures (see its README).
const springTestdata = "../testdata/spring"

// springGitRepo copies config-repo, whose .git Spring stores as git/, and renames it back, as
// Spring's ConfigServerTestUtils.prepareLocalRepo does.
func springGitRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config-repo")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(springTestdata, "config-repo"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "git"), filepath.Join(dir, ".git")); err != nil {
		t.Fatal(err)
	}
	// The fixture's pack is named for another checksum than the one it holds, which C git
	// tolerates and go-git does not: name it for its own (the last 20 bytes of the pack).
	packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*.pack"))
	for _, pack := range packs {
		data, err := os.ReadFile(pack)
		if err != nil || len(data) < 20 {
			t.Fatalf("pack %s: %v", pack, err)
		}
		named := filepath.Join(filepath.Dir(pack), "pack-"+hex.EncodeToString(data[len(data)-20:]))
		for _, ext := range []string{".pack", ".idx"} {
			if err := os.Rename(strings.TrimSuffix(pack, ".pack")+ext, named+ext); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// TestSpringConformance ports the expectations of Spring Cloud Config's own tests to our server,
// on their fixtures; each case names the Spring test it comes from.
func TestSpringConformance(t *testing.T) {
	native := serve(t, filepath.Join(springTestdata, "test"), Options{}).URL
	git := serve(t, springGitRepo(t), Options{}).URL
	for _, tc := range []struct {
		spring  string // the test whose expectation this is
		url     string
		sources int
		// values: property source index → key → value, and -1 → the merged value
		values map[int]map[string]any
	}{
		{"NativeEnvironmentRepositoryTests.prefixed", native + "/foo/development/master", 2,
			map[int]map[string]any{0: {"bar": "spam"}, 1: {"foo": "test_bar"}}},
		{"NativeEnvironmentRepositoryTests.prefixedYaml", native + "/bar/development/master", 2,
			map[int]map[string]any{-1: {"client.test": "Development"}}},
		{"NativeEnvironmentRepositoryTests.prefixedMultiDocProperties", native + "/baz/development/master", 2,
			map[int]map[string]any{-1: {"client.test": "Development"}}},
		{"NativeEnvironmentRepositoryTests.labelled", native + "/foo/development/dev", 3,
			map[int]map[string]any{1: {"foo": "dev_bar"}}},
		{"NativeEnvironmentRepositoryTests.testImportPrefixedWithClasspath", native + "/import/default/master", 3,
			map[int]map[string]any{0: {"foo": "imported"}, 2: {"foo": "importing"}}},
		{"JGitEnvironmentRepositoryTests.basedir", git + "/bar/staging/master", 2,
			map[int]map[string]any{0: {"foo": "bar"}}},
		{"JGitEnvironmentRepositoryTests.multipleLabels", git + "/bar/staging/master,foo,raw", 6, nil},
		// A default-profile client gets the first document only (prefixedMultiDocProperties' file).
		{"NativeEnvironmentRepositoryTests.prefixedMultiDocProperties (default profile)", native + "/baz/default/master", 1,
			map[int]map[string]any{-1: {"client.test": "Default"}}},
	} {
		t.Run(tc.spring, func(t *testing.T) {
			env := environment(t, get(t, tc.url))
			if len(env.PropertySources) != tc.sources {
				t.Fatalf("%d property sources %v, want %d", len(env.PropertySources), sourceFiles(env), tc.sources)
			}
			// Spring's gh-1778, asserted by the native tests: no two sources share a name.
			names := map[string]bool{}
			for _, s := range env.PropertySources {
				if names[s.Name] && strings.HasPrefix(tc.spring, "Native") {
					t.Errorf("two property sources named %s (Spring's gh-1778)", s.Name)
				}
				names[s.Name] = true
			}
			for i, want := range tc.values {
				source := cloudconfig.Merge(env.PropertySources)
				if i >= 0 {
					source = env.PropertySources[i].Source
				}
				for k, v := range want {
					if got, _ := source.Get(k); got != v {
						t.Errorf("source %d: %s = %v, want %v", i, k, got, v)
					}
				}
			}
		})
	}
	if env := environment(t, get(t, git+"/bar/staging/master")); !strings.HasSuffix(env.PropertySources[0].Name, "/bar.properties") {
		t.Errorf("JGitEnvironmentRepositoryTests.basedir: first source %s, want .../bar.properties", env.PropertySources[0].Name)
	}
	// Spring Boot's PropertiesPropertySourceLoader names each document of a file of several
	// " (document #N)", from 0, a later one first (baz.properties: #0 for all, #1 on development).
	env := environment(t, get(t, native+"/baz/development/master"))
	var names []string
	for _, s := range env.PropertySources {
		names = append(names, s.Name[strings.LastIndex(s.Name, "/")+1:])
	}
	if want := []string{"baz.properties (document #1)", "baz.properties (document #0)"}; !slices.Equal(names, want) {
		t.Errorf("multi-document names %q, want %q", names, want)
	}
}

// TestSpringPlainFiles ports ResourceControllerTests: plain files of the repository at a label,
// placeholders resolved against the application's environment.
func TestSpringPlainFiles(t *testing.T) {
	native := serve(t, filepath.Join(springTestdata, "test"), Options{}).URL
	compact := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, tc := range []struct {
		spring, path, accept, want string
		status                     int
	}{
		{"ResourceControllerTests.templateReplacement", "/foo/bar/dev/template.json", "", `{ "foo": "dev_bar" }`, 200},
		{"ResourceControllerTests.templateReplacementNotForResolvePlaceholdersFalse", "/foo/bar/dev/template.json?resolvePlaceholders=false", "", `{ "foo": "${foo}" }`, 200},
		{"ResourceControllerTests.templateReplacementNotForBinary", "/foo/bar/dev/template.json", "application/octet-stream", `{ "foo": "${foo}" }`, 200},
		{"ResourceControllerTests.escapedPlaceholder", "/foo/bar/dev/placeholder.txt", "", `foo: ${foo}`, 200},
		{"ResourceController useDefaultLabel (a file of the root)", "/foo/development/foo.properties?useDefaultLabel=true", "", `foo:test_bar`, 200},
		{"no such file", "/foo/bar/dev/missing.txt", "", "", 404},
	} {
		t.Run(tc.spring, func(t *testing.T) {
			rsp := do(t, "GET", native+tc.path, "", "", func(r *http.Request) {
				if tc.accept != "" {
					r.Header.Set("Accept", tc.accept)
				}
			})
			if rsp.status != tc.status || (tc.status == 200 && compact(rsp.body) != tc.want) {
				t.Fatalf("%d %q, want %d %q", rsp.status, rsp.body, tc.status, tc.want)
			}
		})
	}
}

// TestSpringProfileExpressions ports AwsS3EnvironmentRepositoryTests' profile expressions: each
// fixture served as application.yaml, the keys present in some property source or in none.
func TestSpringProfileExpressions(t *testing.T) {
	servers := map[string]string{}
	for _, fixture := range []string{"negated-profile", "two-negated-profiles", "complex-profile-expressions"} {
		data, err := os.ReadFile(filepath.Join(springTestdata, "awss3", "application-with-"+fixture+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		servers[fixture] = newServer(t, map[string]string{"application.yaml": string(data)}, Options{}).URL
	}
	for _, tc := range []struct {
		spring, fixture, profiles string
		present, absent           []string
	}{
		{"negatedProfileDocumentIncludedWhenProfileNotActive", "negated-profile", "default", []string{"demo.negatedProfileMarker", "demo.base"}, nil},
		{"negatedProfileDocumentExcludedWhenProfileIsActive", "negated-profile", "my-profile", []string{"demo.base"}, []string{"demo.negatedProfileMarker"}},
		{"negatedProfileDocumentExcludedWhenNegatedProfileIsOneOfMultipleActiveProfiles", "negated-profile", "my-profile,other-profile", nil, []string{"demo.negatedProfileMarker"}},
		{"negatedProfileDocumentIncludedWhenNegatedProfileIsAbsentFromMultipleActiveProfiles", "negated-profile", "default,other-profile", []string{"demo.negatedProfileMarker"}, nil},
		{"twoNegatedProfileDocumentsBothIncludedWhenNeitherProfileIsActive", "two-negated-profiles", "default", []string{"demo.negatedProfileMarker", "demo.otherNegatedMarker", "demo.base"}, nil},
		{"twoNegatedProfileDocumentsOnlyOneIncludedWhenOneProfileIsActive", "two-negated-profiles", "my-profile", []string{"demo.otherNegatedMarker", "demo.base"}, []string{"demo.negatedProfileMarker"}},
		{"complexProfileExpressionsAreEvaluatedCorrectly", "complex-profile-expressions", "profile1", []string{"demo.andExpression", "demo.notAndExpression", "demo.orNegatedExpression"}, nil},
		{"complexProfileExpressionsAreExcludedWhenNotSatisfied", "complex-profile-expressions", "profile1,profile2", nil, []string{"demo.andExpression", "demo.notAndExpression", "demo.orNegatedExpression"}},
	} {
		t.Run("AwsS3EnvironmentRepositoryTests."+tc.spring, func(t *testing.T) {
			env := environment(t, get(t, servers[tc.fixture]+"/application/"+tc.profiles))
			has := func(key string) bool {
				for _, s := range env.PropertySources {
					if _, ok := s.Source.Get(key); ok {
						return true
					}
				}
				return false
			}
			for _, k := range tc.present {
				if !has(k) {
					t.Errorf("%s missing from %v", k, sourceFiles(env))
				}
			}
			for _, k := range tc.absent {
				if has(k) {
					t.Errorf("%s present", k)
				}
			}
		})
	}
}

// TestSpringEnvironmentController ports EnvironmentControllerIntegrationTests: which requests
// Spring's controller answers, and how (it mocks the repository; here a git repository holds
// the labels it names).
func TestSpringEnvironmentController(t *testing.T) {
	g := repotest.Init(t, t.TempDir())
	first := g.Commit(map[string]string{"foo.yml": "a: 1\n", "foo/app.yml": "in: folder\n", "foo-bar.yml": "b: 2\n"}, "first")
	for _, branch := range []string{"awesome", "feature/puff", "label/spam"} {
		g.Branch(branch, first)
	}
	g.Tag("1.0.0", first, false)
	g.Tag("label", first, true) // a branch "label" and "label/spam" cannot both be refs
	srv := serve(t, g.Dir, Options{}).URL
	for _, tc := range []struct {
		spring, path string
		status       int
		contains     string
	}{
		{"environmentNoLabel", "/foo/default", 200, `"propertySources":`},
		{"profileWithDash", "/foo/dev-db", 200, `"profiles":["dev-db"]`},
		{"profileContainingExtensionKeyword[yml]", "/foo/dev-yml", 200, `"profiles":["dev-yml"]`},
		{"profileContainingExtensionKeyword[properties]", "/foo/dev-properties", 200, `"profiles":["dev-properties"]`},
		{"profileHavingAnExtension[yml]", "/foo/dev.yml", 404, ""},
		{"profileHavingAnExtension[json]", "/foo/dev.json", 404, ""},
		{"propertiesNoLabel", "/foo-default.properties", 200, "a: 1"},
		{"propertiesLabel", "/label/foo-default.properties", 200, "a: 1"},
		{"propertiesLabelWhenApplicationNameContainsHyphen", "/label/foo-bar-default.properties", 200, "b: 2"},
		{"propertiesLabelWithSlash", "/label(_)spam/foo-default.properties", 200, "a: 1"},
		{"environmentWithLabel", "/foo/default/awesome", 200, `"label":"awesome"`},
		{"environmentWithMissingLabel", "/foo/default/missing", 404, ""},
		{"environmentWithLabelContainingPeriod", "/foo/default/1.0.0", 200, `"label":"1.0.0"`},
		{"environmentWithLabelContainingSlash", "/foo/default/feature(_)puff", 200, `"label":"feature/puff"`},
		{"environmentWithApplicationContainingSlash", "/foo(_)app/default", 200, `"in":"folder"`},
	} {
		t.Run("EnvironmentControllerIntegrationTests."+tc.spring, func(t *testing.T) {
			rsp := get(t, srv+tc.path)
			if rsp.status != tc.status || !strings.Contains(rsp.body, tc.contains) {
				t.Fatalf("%d %s, want %d with %q", rsp.status, rsp.body, tc.status, tc.contains)
			}
		})
	}
}

// TestSpringEncryptionController ports EncryptionControllerTests that apply to a symmetric key
// (the RSA ones do not: there is no RSA key here).
func TestSpringEncryptionController(t *testing.T) {
	key, _ := cipher.New("the key", cipher.DefaultSalt)
	other, _ := cipher.New("another key", cipher.DefaultSalt)
	srv := newServer(t, nil, Options{Cipher: key}).URL
	const form = "application/x-www-form-urlencoded"
	foreign, _ := other.Encrypt("foo")
	roundTrip := func(encryptPath, decryptPath, contentType, plain, decryptSuffix string) string {
		t.Helper()
		enc := do(t, "POST", srv+encryptPath, contentType, plain)
		if enc.status != 200 {
			t.Fatalf("encrypt %q: %d %s", plain, enc.status, enc.body)
		}
		return do(t, "POST", srv+decryptPath, contentType, enc.body+decryptSuffix).body
	}
	for _, tc := range []struct {
		spring, got, want string
	}{
		{"appAndProfile", roundTrip("/encrypt/app/default", "/decrypt/app/default", "text/plain", "foo bar", ""), "foo bar"},
		{"formDataIn", roundTrip("/encrypt", "/decrypt", form, "foo bar=", "="), "foo bar"},
		{"formDataInWithPrefix", roundTrip("/encrypt", "/decrypt", form, "{key:test}foo bar=", "="), "foo bar"},
		{"encryptDecryptTextWithCurlyBrace", roundTrip("/encrypt", "/decrypt", form, "textwith}brace", ""), "textwith}brace"},
		{"addEnvironment", roundTrip("/encrypt/app/default", "/decrypt/app/default", "text/plain", "{key:value}foo bar", ""), "foo bar"},
	} {
		if tc.got != tc.want {
			t.Errorf("EncryptionControllerTests.%s: %q, want %q", tc.spring, tc.got, tc.want)
		}
	}
	for _, tc := range []struct {
		spring, path, body string
		status             int
	}{
		{"shouldThrowExceptionOnDecryptInvalidData", "/decrypt", "foo", 400},
		{"shouldThrowExceptionOnDecryptWrongKey", "/decrypt", foreign, 400},
		{"decryptNameWithDotDot", "/decrypt/../app/default", "hello", 400},
		{"decryptProfilesWithDotDot", "/decrypt/app/../default", "hello", 400},
		{"encryptNameWithDotDot", "/encrypt/../app/default", "hello", 400},
		{"encryptProfilesWithDotDot", "/encrypt/app/../default", "hello", 400},
	} {
		status, body := rawRequest(t, strings.TrimPrefix(srv, "http://"), "POST", tc.path, tc.body)
		if status != tc.status || (tc.status == 400 && strings.HasPrefix(tc.spring, "shouldThrow") && !strings.Contains(body, `"status":"INVALID"`)) {
			t.Errorf("EncryptionControllerTests.%s: %d %s, want %d", tc.spring, status, body, tc.status)
		}
	}
}

// TestEnvironmentWithOrigins: with Spring's v2 media type, every value comes with where it was
// written ("line:column", as Spring's TextResourceOrigin locations read), across YAML,
// multi-document .properties and decrypted values.
func TestEnvironmentWithOrigins(t *testing.T) {
	srv := serve(t, filepath.Join(springTestdata, "test"), Options{}).URL
	rsp := do(t, "GET", srv+"/baz/development", "", "", func(r *http.Request) {
		r.Header.Set("Accept", "application/vnd.spring-cloud.config-server.v2+json")
	})
	var env struct {
		Name            string `json:"name"`
		PropertySources []struct {
			Name   string `json:"name"`
			Source map[string]struct {
				Value  any    `json:"value"`
				Origin string `json:"origin"`
			} `json:"source"`
		} `json:"propertySources"`
	}
	if err := json.Unmarshal([]byte(rsp.body), &env); err != nil || rsp.status != 200 || rsp.header.Get("Content-Type") != "application/vnd.spring-cloud.config-server.v2+json" {
		t.Fatalf("%d %s %s (%v)", rsp.status, rsp.header.Get("Content-Type"), rsp.body, err)
	}
	// baz.properties: "client.test=Default" on line 1; the development document's value on line 5.
	if len(env.PropertySources) != 2 || env.Name != "baz" {
		t.Fatalf("%s", rsp.body)
	}
	for i, want := range []struct {
		value, origin string
	}{{"Development", "5:13"}, {"Default", "1:13"}} {
		got := env.PropertySources[i].Source["client.test"]
		if got.Value != want.value || got.Origin != want.origin {
			t.Errorf("source %d: client.test = %+v, want %+v", i, got, want)
		}
	}
	yaml := do(t, "GET", srv+"/bar/development", "", "", func(r *http.Request) {
		r.Header.Set("Accept", "application/vnd.spring-cloud.config-server.v2+json")
	})
	if !strings.Contains(yaml.body, `"client.test":{"value":"Development","origin":"12:9"}`) {
		t.Errorf("bar.yml's development document: %s", yaml.body)
	}
}
