package repo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/service/configserver/repo/repotest"
)

func read(t *testing.T, r Repository, label, name string) (string, Snapshot, error) {
	t.Helper()
	s, err := r.Snapshot(label)
	if err != nil {
		return "", s, err
	}
	b, err := s.ReadFile(name)
	return string(b), s, err
}

func mustRead(t *testing.T, r Repository, label, name, want string) Snapshot {
	t.Helper()
	got, s, err := read(t, r, label, name)
	if err != nil || got != want {
		t.Fatalf("label %q file %s: got %q, %v; want %q", label, name, got, err, want)
	}
	return s
}

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.yml")
	os.WriteFile(outside, []byte("secret: yes"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.yml"), []byte("a: 1"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "escape.yml"))
	os.Mkdir(filepath.Join(dir, "sub.yml"), 0o755)

	r, err := Open(Config{URI: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*folder); !ok {
		t.Fatalf("auto picked %T for a plain folder", r)
	}
	s := mustRead(t, r, "", "app.yml", "a: 1")
	if s.Version != "" {
		t.Fatalf("a folder has no version, got %q", s.Version)
	}
	for _, name := range []string{"missing.yml", "sub.yml"} {
		if _, _, err := read(t, r, "", name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: want ErrNotExist, got %v", name, err)
		}
	}
	if got, _, err := read(t, r, "", "escape.yml"); err == nil {
		t.Fatalf("a symlink out of the folder was followed: %q", got)
	}
	for _, name := range []string{"../secret.yml", "/etc/passwd", `..\x`, "..", ""} {
		if _, _, err := read(t, r, "", name); err == nil {
			t.Errorf("%q was read", name)
		}
	}
	if _, err := Open(Config{URI: dir, DefaultLabel: "main"}); err == nil {
		t.Error("a folder with a default label must be refused")
	}
	if _, err := Open(Config{URI: filepath.Join(dir, "nope")}); err == nil {
		t.Error("a missing folder must be refused")
	}
}

func TestLocalGit(t *testing.T) {
	g := repotest.Init(t, t.TempDir())
	first := g.Commit(map[string]string{"app.yml": "v: 1", "conf/app.yml": "in: search path"}, "first")
	g.Tag("v1", first, false)
	g.Tag("release-1", first, true)
	g.Branch("feature/login", first)
	second := g.Commit(map[string]string{"app.yml": "v: 2"}, "second")

	r, err := Open(Config{URI: g.Dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*localGit); !ok {
		t.Fatalf("auto picked %T for a git folder", r)
	}
	s := mustRead(t, r, "", "app.yml", "v: 2")
	if s.Version != second || s.Label != "main" {
		t.Fatalf("HEAD: version %s label %s, want %s main", s.Version, s.Label, second)
	}
	for _, label := range []string{"v1", "release-1", "feature(_)login", first, first[:7]} {
		if s := mustRead(t, r, label, "app.yml", "v: 1"); s.Version != first {
			t.Fatalf("label %s: version %s, want %s", label, s.Version, first)
		}
	}
	mustRead(t, r, "main", "app.yml", "v: 2")

	// A commit made now is served at once.
	third := g.Commit(map[string]string{"app.yml": "v: 3"}, "third")
	if s := mustRead(t, r, "", "app.yml", "v: 3"); s.Version != third {
		t.Fatalf("new commit not seen: %s", s.Version)
	}

	for _, label := range []string{"nope", "deadbeef", "feature/login/x", "feature(_)nope"} {
		if _, err := r.Snapshot(label); !errors.Is(err, ErrNoSuchLabel) {
			t.Errorf("label %q: want ErrNoSuchLabel, got %v", label, err)
		}
	}

	sub, err := Open(Config{URI: g.Dir, SearchPath: "conf"})
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, sub, "", "app.yml", "in: search path")
	for _, bad := range []string{"../x", "/abs"} {
		if _, err := Open(Config{URI: g.Dir, SearchPath: bad}); err == nil {
			t.Errorf("search path %q accepted", bad)
		}
	}
	if _, err := Open(Config{URI: g.Dir, DefaultLabel: "nope"}); err == nil {
		t.Error("a default label that does not exist must fail at start")
	}
}

func TestLocalGitSymlinkNotServed(t *testing.T) {
	g := repotest.Init(t, t.TempDir())
	os.Symlink("/etc/passwd", filepath.Join(g.Dir, "link.yml"))
	wt, _ := g.Repo.Worktree()
	wt.Add("link.yml")
	g.Commit(map[string]string{"app.yml": "a: 1"}, "with a symlink")
	r, _ := Open(Config{URI: g.Dir})
	if got, _, err := read(t, r, "", "link.yml"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("symlink served: %q, %v", got, err)
	}
}

func TestRemoteGit(t *testing.T) {
	g := repotest.Init(t, t.TempDir())
	first := g.Commit(map[string]string{"app.yml": "v: 1"}, "first")
	g.Tag("v1", first, true)
	url := "file://" + g.Dir

	fresh, err := Open(Config{URI: url})
	if err != nil {
		t.Fatal(err)
	}
	cached, err := Open(Config{URI: url, RefreshRate: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fresh.(*remoteGit); !ok {
		t.Fatalf("auto picked %T for a URL", fresh)
	}
	if s := mustRead(t, fresh, "", "app.yml", "v: 1"); s.Version != first || s.Label != "main" {
		t.Fatalf("version %s label %s", s.Version, s.Label)
	}
	second := g.Commit(map[string]string{"app.yml": "v: 2"}, "second")
	g.Branch("feature/x", second)
	if s := mustRead(t, fresh, "", "app.yml", "v: 2"); s.Version != second {
		t.Fatalf("refresh rate 0 must fetch on every request, got %s", s.Version)
	}
	mustRead(t, fresh, "feature(_)x", "app.yml", "v: 2")
	mustRead(t, fresh, "v1", "app.yml", "v: 1")
	mustRead(t, fresh, first, "app.yml", "v: 1")
	mustRead(t, cached, "", "app.yml", "v: 1") // within its refresh rate: the clone is reused

	// The remote gone: the last fetched state is still served.
	os.RemoveAll(g.Dir)
	mustRead(t, fresh, "", "app.yml", "v: 2")

	down, err := Open(Config{URI: "file://" + filepath.Join(t.TempDir(), "nothing")})
	if err != nil {
		t.Fatalf("a remote that is down must not stop the server: %v", err)
	}
	if _, err := down.Snapshot(""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}
