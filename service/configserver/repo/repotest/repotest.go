// Package repotest builds git repositories for tests, with go-git, so that tests need no git
// binary and no user configuration.
package repotest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Git is a repository with a work tree.
type Git struct {
	t    testing.TB
	Dir  string
	Repo *git.Repository
}

// Init creates an empty repository in dir whose first branch is main.
func Init(t testing.TB, dir string) *Git {
	t.Helper()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Git{t: t, Dir: dir, Repo: r}
}

// Commit writes files (name → content; an empty content deletes the file) and commits them,
// returning the commit id.
func (g *Git) Commit(files map[string]string, message string) string {
	g.t.Helper()
	wt, err := g.Repo.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	for name, content := range files {
		path := filepath.Join(g.Dir, name)
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			g.t.Fatal(err)
		}
	}
	h, err := wt.Commit(message, &git.CommitOptions{Author: &object.Signature{Name: "test", Email: "test@example.com", When: time.Now()}})
	if err != nil {
		g.t.Fatal(err)
	}
	return h.String()
}

// Branch points branch (which may contain slashes) at commit.
func (g *Git) Branch(branch, commit string) {
	g.t.Helper()
	ref := plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), plumbing.NewHash(commit))
	if err := g.Repo.Storer.SetReference(ref); err != nil {
		g.t.Fatal(err)
	}
}

// Tag tags commit; annotated tags get a tag object, others are plain references.
func (g *Git) Tag(name, commit string, annotated bool) {
	g.t.Helper()
	var opts *git.CreateTagOptions
	if annotated {
		opts = &git.CreateTagOptions{Message: name, Tagger: &object.Signature{Name: "test", Email: "test@example.com", When: time.Now()}}
	}
	if _, err := g.Repo.CreateTag(name, plumbing.NewHash(commit), opts); err != nil {
		g.t.Fatal(err)
	}
}
