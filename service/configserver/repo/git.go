package repo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// SlashInLabel is how Spring Cloud Config writes "/" inside a label in a URL path
// (feature(_)login is the branch feature/login).
const SlashInLabel = "(_)"

var hexHash = regexp.MustCompile(`^[0-9a-f]{4,40}$`)

// localGit reads a git repository on this machine. It is opened for every snapshot, so a commit
// made a moment ago is served at once.
type localGit struct {
	path, searchPath, defaultLabel string
}

func openLocalGit(c Config) (*localGit, error) {
	g := &localGit{path: c.URI, searchPath: c.SearchPath, defaultLabel: c.DefaultLabel}
	if _, err := g.Snapshot(""); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *localGit) Location() string {
	abs, _ := filepath.Abs(g.path)
	return "file:" + filepath.ToSlash(abs) + "/"
}

func (g *localGit) Snapshot(label string) (Snapshot, error) {
	r, err := git.PlainOpen(g.path)
	if err != nil {
		return Snapshot{}, fmt.Errorf("open git repository %s: %w", g.path, err)
	}
	if label == "" {
		label = g.defaultLabel
	}
	return snapshotAt(r, label, g.searchPath, []string{"refs/heads/", "refs/tags/", "refs/remotes/origin/"}, nil)
}

// remoteGit keeps an in-memory clone of a remote repository and fetches when it is older than
// the refresh rate. Reads and fetches are serialised: go-git's memory storage is not safe for
// both at once.
type remoteGit struct {
	url, searchPath, defaultLabel string
	refreshRate                   time.Duration
	auth                          transport.AuthMethod

	mu          sync.RWMutex
	repo        *git.Repository
	headBranch  string
	lastFetch   time.Time
	fetchFailed bool
}

func openRemote(c Config) (*remoteGit, error) {
	g := &remoteGit{url: c.URI, searchPath: c.SearchPath, defaultLabel: c.DefaultLabel, refreshRate: c.RefreshRate}
	if c.Username != "" || c.Password != "" {
		g.auth = &githttp.BasicAuth{Username: c.Username, Password: c.Password}
	}
	// A remote that is down at start is not fatal: every request tries again.
	if err := g.refresh(); err != nil {
		log.Printf("config repository %s: %v (will retry on the next request)", c.URI, err)
	}
	return g, nil
}

func (g *remoteGit) Location() string { return strings.TrimSuffix(g.url, "/") + "/" }

func (g *remoteGit) refresh() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.repo != nil && time.Since(g.lastFetch) < g.refreshRate {
		return nil
	}
	if g.repo == nil {
		r, err := git.Clone(memory.NewStorage(), nil, &git.CloneOptions{URL: g.url, Auth: g.auth, Tags: git.AllTags})
		if err != nil {
			return fmt.Errorf("clone: %w", err)
		}
		head, err := r.Head()
		if err != nil {
			return fmt.Errorf("clone has no HEAD: %w", err)
		}
		g.repo, g.headBranch, g.lastFetch = r, head.Name().Short(), time.Now()
		return nil
	}
	err := g.repo.Fetch(&git.FetchOptions{
		RefSpecs: []gitconfig.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"},
		Auth:     g.auth, Force: true, Prune: true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		// Serve the last clone, as Spring does, and say so once per failure streak.
		if !g.fetchFailed {
			log.Printf("config repository %s: fetch failed, serving the last fetched state: %v", g.url, err)
		}
		g.fetchFailed = true
		return nil
	}
	if g.fetchFailed {
		log.Printf("config repository %s: fetch works again", g.url)
	}
	g.fetchFailed, g.lastFetch = false, time.Now()
	return nil
}

func (g *remoteGit) Snapshot(label string) (Snapshot, error) {
	if err := g.refresh(); err != nil {
		return Snapshot{}, fmt.Errorf("%w: %s: %v", ErrUnavailable, g.url, err)
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if label == "" {
		label = g.defaultLabel
	}
	if label == "" {
		label = g.headBranch
	}
	return snapshotAt(g.repo, label, g.searchPath, []string{"refs/remotes/origin/", "refs/tags/"}, &g.mu)
}

// snapshotAt resolves label against the reference prefixes in order, then as a commit id.
// lock, when set, is read-locked around every file read.
func snapshotAt(r *git.Repository, label, searchPath string, prefixes []string, lock *sync.RWMutex) (Snapshot, error) {
	commit, resolved, err := resolve(r, strings.ReplaceAll(label, SlashInLabel, "/"), prefixes)
	if err != nil {
		return Snapshot{}, err
	}
	tree, err := commit.Tree()
	if err != nil {
		return Snapshot{}, fmt.Errorf("tree of %s: %w", commit.Hash, err)
	}
	if searchPath != "" {
		if tree, err = tree.Tree(searchPath); err != nil {
			return Snapshot{}, fmt.Errorf("search path %s at %s: %w", searchPath, commit.Hash, err)
		}
	}
	read := func(name string) ([]byte, error) {
		if lock != nil {
			lock.RLock()
			defer lock.RUnlock()
		}
		entry, err := tree.FindEntry(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		if entry.Mode != filemode.Regular && entry.Mode != filemode.Executable {
			// Symbolic links could point anywhere once checked out; we never follow them.
			return nil, fmt.Errorf("%s: not a regular file: %w", name, fs.ErrNotExist)
		}
		file, err := tree.TreeEntryFile(entry)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if file.Size > maxFileSize {
			return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
		}
		rd, err := file.Reader()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer rd.Close()
		return io.ReadAll(rd)
	}
	return Snapshot{Version: commit.Hash.String(), Label: resolved, read: read}, nil
}

func resolve(r *git.Repository, label string, prefixes []string) (*object.Commit, string, error) {
	if label == "" {
		// Spring's default label is main, and master where there is no main
		// (spring.cloud.config.server.git.default-label, try-master-branch); then HEAD.
		for _, name := range []string{"main", "master"} {
			if ref, err := r.Reference(plumbing.NewBranchReferenceName(name), true); err == nil {
				c, err := commitOf(r, ref.Hash())
				return c, name, err
			}
		}
		head, err := r.Head()
		if err != nil {
			return nil, "", fmt.Errorf("repository HEAD: %w", err)
		}
		c, err := commitOf(r, head.Hash())
		return c, head.Name().Short(), err
	}
	for _, prefix := range prefixes {
		ref, err := r.Reference(plumbing.ReferenceName(prefix+label), true)
		if err == nil {
			c, err := commitOf(r, ref.Hash())
			return c, label, err
		}
	}
	if hexHash.MatchString(label) {
		if h, err := r.ResolveRevision(plumbing.Revision(label)); err == nil {
			if c, err := commitOf(r, *h); err == nil {
				return c, label, nil
			}
		}
	}
	return nil, "", fmt.Errorf("%w: %s", ErrNoSuchLabel, label)
}

// commitOf returns the commit h names, peeling annotated tags.
func commitOf(r *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	if c, err := r.CommitObject(h); err == nil {
		return c, nil
	}
	tag, err := r.TagObject(h)
	if err != nil {
		return nil, fmt.Errorf("object %s is neither a commit nor a tag", h)
	}
	return tag.Commit()
}
