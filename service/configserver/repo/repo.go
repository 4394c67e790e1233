// Package repo reads configuration files out of a plain folder or a git repository (a local
// path, or a remote URL cloned into memory), at a label: a branch, tag or commit.
package repo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoSuchLabel means the label names no branch, tag or commit.
var ErrNoSuchLabel = errors.New("no such label")

// ErrUnavailable means the repository cannot be read right now (e.g. the remote is down and was
// never cloned).
var ErrUnavailable = errors.New("repository unavailable")

// maxFileSize bounds what one configuration file may hold.
const maxFileSize = 4 << 20

// Snapshot is the repository's files at one version.
type Snapshot struct {
	// Version is the commit id; empty for a folder.
	Version string
	// Label is the branch, tag or commit the snapshot was resolved from; empty for a folder.
	Label string
	// Labelled, in a folder repository asked for a label that names one of its subfolders, are
	// that subfolder's files, which Spring's native repository reads before the others; Prefix
	// is their path in the folder ("dev/").
	Labelled *Snapshot
	Prefix   string
	read     func(name string) ([]byte, error)
}

// ReadFile returns the file's content, or an error wrapping fs.ErrNotExist when there is no such
// file. name is a plain file name checked by the caller; it is never a path.
func (s Snapshot) ReadFile(name string) ([]byte, error) {
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." || name == "" {
		return nil, fmt.Errorf("read %q: not a plain file name", name)
	}
	return s.read(name)
}

// ReadPath returns the file at rel, a slash-separated path below the snapshot's root (a file
// that spring.config.import names), or an error when rel could leave it.
func (s Snapshot) ReadPath(rel string) ([]byte, error) {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains(rel, `\`) {
		return nil, fmt.Errorf("read %q: not a relative path", rel)
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return nil, fmt.Errorf("read %q: not a relative path inside the repository", rel)
		}
	}
	return s.read(rel)
}

// Repository gives snapshots of configuration files.
type Repository interface {
	// Snapshot resolves label; the empty label means the default one.
	Snapshot(label string) (Snapshot, error)
	// Location is the repository's address, used to name property sources.
	Location() string
}

// Config says which repository to read.
type Config struct {
	// URI is a folder, a local git repository, or a git URL (https://, ssh://, git@, file://).
	URI string
	// Backend is "folder", "git" or "auto": git for URLs and folders with a .git, else folder.
	Backend string
	// DefaultLabel is used when a request names no label; empty means the repository's HEAD.
	DefaultLabel string
	// SearchPath is a folder inside the repository that holds the files; empty for its root.
	SearchPath string
	// RefreshRate is how long a remote clone is used before fetching again (0: every request).
	RefreshRate time.Duration
	// Username and Password authenticate to an https remote.
	Username, Password string
}

// Open returns the repository c describes.
func Open(c Config) (Repository, error) {
	if c.SearchPath != "" {
		clean := filepath.ToSlash(filepath.Clean(c.SearchPath))
		if filepath.IsAbs(c.SearchPath) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("search path %q must be a folder inside the repository", c.SearchPath)
		}
		c.SearchPath = strings.TrimPrefix(clean, "./")
		if c.SearchPath == "." {
			c.SearchPath = ""
		}
	}
	backend := c.Backend
	if backend == "" || backend == "auto" {
		backend = "folder"
		if isRemote(c.URI) || isGitFolder(c.URI) {
			backend = "git"
		}
	}
	switch backend {
	case "folder":
		if c.DefaultLabel != "" {
			return nil, errors.New("a folder repository has no labels: leave the default label empty")
		}
		return openFolder(c)
	case "git":
		if isRemote(c.URI) {
			return openRemote(c)
		}
		return openLocalGit(c)
	default:
		return nil, fmt.Errorf("repository backend %q: want folder, git or auto", c.Backend)
	}
}

func isRemote(uri string) bool {
	for _, scheme := range []string{"https://", "http://", "ssh://", "git://", "file://", "git@"} {
		if strings.HasPrefix(uri, scheme) {
			return true
		}
	}
	return false
}

func isGitFolder(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		return true
	}
	// A bare repository.
	_, errHead := os.Stat(filepath.Join(dir, "HEAD"))
	_, errObjects := os.Stat(filepath.Join(dir, "objects"))
	return errHead == nil && errObjects == nil
}

// folder serves the files of a directory; os.Root guarantees that no name, symlink included,
// reaches outside it.
type folder struct {
	root     *os.Root
	location string
}

func openFolder(c Config) (*folder, error) {
	dir := filepath.Join(c.URI, c.SearchPath)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open config folder: %w", err)
	}
	abs, _ := filepath.Abs(dir)
	return &folder{root: root, location: "file:" + filepath.ToSlash(abs) + "/"}, nil
}

func (f *folder) Location() string { return f.location }

// Snapshot reads the folder; with a label that names a subfolder (feature(_)x for feature/x),
// that subfolder's files come first, as Spring's native repository reads {label}/ first. A
// label that names no subfolder is answered from the folder alone.
func (f *folder) Snapshot(label string) (Snapshot, error) {
	snap := Snapshot{read: readFrom(f.root)}
	if label == "" {
		return snap, nil
	}
	dir := strings.ReplaceAll(label, SlashInLabel, "/")
	if sub, err := f.root.OpenRoot(dir); err == nil {
		snap.Labelled = &Snapshot{read: readFrom(sub), Prefix: dir + "/"}
	}
	return snap, nil
}

// readFrom reads regular files of at most maxFileSize from root; os.Root keeps every name,
// symlink included, inside it.
func readFrom(root *os.Root) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		file, err := root.Open(name)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		info, err := file.Stat()
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file: %w", name, fs.ErrNotExist)
		}
		if info.Size() > maxFileSize {
			return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
		}
		return io.ReadAll(io.LimitReader(file, maxFileSize))
	}
}
