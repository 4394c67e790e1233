package server

import (
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
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
