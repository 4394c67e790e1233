package routes

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/micro/go-micro/v2/registry"
)

// Fetch asks a node of service at version for its Reflection.Files.
type Fetch func(ctx context.Context, service, version string) ([][]byte, error)

// Watcher keeps a Table in step with the registry.
type Watcher struct {
	// Registry lists and watches the services; Namespace names the ones routed.
	Registry  registry.Registry
	Namespace string
	// Fetch reads a service's API once per version.
	Fetch Fetch
	// Grace is how long the routes of a service whose last instance left answer 503 before
	// they go (404).
	Grace time.Duration
	// Table is kept up to date.
	Table *Table
	// Retry is how soon a version whose API could not be read is asked again, doubling after
	// each failure up to maxRetry (0: a quarter second).
	Retry time.Duration

	once     sync.Once
	mu       sync.Mutex
	services map[string][]*Route // the routes of each service with an instance
	gone     map[string]time.Time
	versions map[string]built     // by service@version
	unread   map[string]time.Time // services with a version not read yet → when to ask again
	refused  map[string]bool      // claims refused, logged once
}

// built is a version's routes, or why there are none and when to ask again.
type built struct {
	routes   []*Route
	err      error
	failures int
	retry    time.Time
}

// maxRetry bounds the wait between reads of a version whose API cannot be read.
const maxRetry = 30 * time.Second

// resync is how often the whole registry is read again, whatever the watch said.
const resync = 30 * time.Second

// init makes the watcher's maps, once.
func (w *Watcher) init() {
	w.once.Do(func() {
		w.services, w.gone, w.versions, w.unread = map[string][]*Route{}, map[string]time.Time{}, map[string]built{}, map[string]time.Time{}
	})
}

// Sync reads every service of the namespace now.
func (w *Watcher) Sync(ctx context.Context) error {
	w.init()
	list, err := w.Registry.ListServices()
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, s := range list {
		if strings.HasPrefix(s.Name, w.Namespace+".") && !listed[s.Name] {
			listed[s.Name] = true
			w.refresh(ctx, s.Name)
		}
	}
	w.mu.Lock()
	var left []string
	for name := range w.services {
		if !listed[name] {
			left = append(left, name)
		}
	}
	w.mu.Unlock()
	for _, name := range left {
		w.refresh(ctx, name)
	}
	return nil
}

// Run follows the registry until ctx ends: a watch for changes, a full read every resync, and
// the expiry of departed services' routes.
func (w *Watcher) Run(ctx context.Context) {
	w.init()
	changed := make(chan string, 64)
	go w.watch(ctx, changed)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-changed:
			w.refresh(ctx, name)
		case <-tick.C:
			if time.Since(last) >= resync {
				last = time.Now()
				if err := w.Sync(ctx); err != nil {
					log.Printf("routes: read the registry: %v", err)
				}
			}
			w.mu.Lock()
			departing := len(w.gone) > 0
			w.mu.Unlock()
			// A service whose API could not be read is asked again when due, not only when
			// the registry next changes (its routes would answer 404 until then).
			due, _ := w.unreadDue()
			for _, name := range due {
				w.refresh(ctx, name)
			}
			if departing {
				w.publish()
			}
		}
	}
}

// Settle is Sync, then the services whose API could not be read asked again until every one
// is read or ctx ends: a gateway that starts beside services being replaced (a rolling
// upgrade) serves all their routes from its first request rather than 404 for some.
func (w *Watcher) Settle(ctx context.Context) error {
	if err := w.Sync(ctx); err != nil {
		return err
	}
	for {
		due, next := w.unreadDue()
		for _, name := range due {
			w.refresh(ctx, name)
		}
		if len(due) > 0 && ctx.Err() == nil {
			continue
		}
		if next.IsZero() && len(due) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			w.mu.Lock()
			defer w.mu.Unlock()
			names := make([]string, 0, len(w.unread))
			for name := range w.unread {
				names = append(names, name)
			}
			sort.Strings(names)
			return fmt.Errorf("the APIs of %s could not be read yet", strings.Join(names, ", "))
		case <-time.After(time.Until(next)):
		}
	}
}

// unreadDue is the services with a version to ask again now, and when the next one is due
// (zero: none is unread).
func (w *Watcher) unreadDue() (due []string, next time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	for name, at := range w.unread {
		switch {
		case !now.Before(at):
			due = append(due, name)
		case next.IsZero() || at.Before(next):
			next = at
		}
	}
	return due, next
}

// watch passes on the names of the namespace's services the registry says changed.
func (w *Watcher) watch(ctx context.Context, changed chan<- string) {
	for wait := time.Second; ctx.Err() == nil; {
		watcher, err := w.Registry.Watch()
		if err != nil {
			log.Printf("routes: watch the registry: %v (again in %s)", err, wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 30*time.Second)
			continue
		}
		wait = time.Second
		stop := context.AfterFunc(ctx, watcher.Stop)
		for {
			res, err := watcher.Next()
			if err != nil {
				break
			}
			if res.Service != nil && strings.HasPrefix(res.Service.Name, w.Namespace+".") {
				select {
				case changed <- res.Service.Name:
				case <-ctx.Done():
				}
			}
		}
		// Stopped once: by the end of ctx (AfterFunc) or here.
		if stop() {
			watcher.Stop()
		}
	}
}

// refresh reads one service again and publishes the table.
func (w *Watcher) refresh(ctx context.Context, name string) {
	versions, err := w.Registry.GetService(name)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		log.Printf("routes: read %s: %v", name, err)
		w.mu.Lock()
		if _, waiting := w.unread[name]; waiting {
			// Asked again later, not at once: the registry is what failed.
			w.unread[name] = time.Now().Add(time.Second)
		}
		w.mu.Unlock()
		return
	}
	// The version with the most instances first: its routes win where versions differ.
	sort.SliceStable(versions, func(i, j int) bool { return len(versions[i].Nodes) > len(versions[j].Nodes) })
	var routes []*Route
	seen := map[string]bool{}
	keep := func(rs []*Route) {
		for _, r := range rs {
			if !seen[r.Path] {
				seen[r.Path] = true
				routes = append(routes, r)
			}
		}
	}
	instances := 0
	var retry time.Time // the soonest a version not read is asked again; zero: all read
	for _, v := range versions {
		if len(v.Nodes) == 0 {
			continue
		}
		instances += len(v.Nodes)
		read, again := w.version(ctx, v)
		if !again.IsZero() && (retry.IsZero() || again.Before(retry)) {
			retry = again
		}
		keep(read)
	}
	w.mu.Lock()
	delete(w.unread, name)
	if instances > 0 && !retry.IsZero() {
		w.unread[name] = retry
	}
	switch {
	case instances > 0:
		if !retry.IsZero() {
			// A version with instances whose API could not be read (its nodes or the registry
			// busy, as while Consul elects a leader) may serve what the service served until
			// now: those routes stay until it can be read, rather than answer 404 meanwhile.
			keep(w.services[name])
		}
		w.services[name] = routes
		delete(w.gone, name)
	case w.services[name] != nil:
		if _, already := w.gone[name]; !already {
			w.gone[name] = time.Now()
			log.Printf("routes: the last instance of %s left: its routes answer 503 for %s, then go", name, w.Grace)
		}
	}
	w.mu.Unlock()
	w.publish()
}

// version is the routes of one version of a service, read once; when its API could not be
// read, none and when to ask again.
func (w *Watcher) version(ctx context.Context, s *registry.Service) ([]*Route, time.Time) {
	key := s.Name + "@" + s.Version
	w.mu.Lock()
	b, ok := w.versions[key]
	w.mu.Unlock()
	if ok && (b.err == nil || time.Now().Before(b.retry)) {
		return b.routes, b.retry
	}
	api := API{Service: s.Name, Namespace: w.Namespace}
	for _, e := range s.Endpoints {
		api.Endpoints = append(api.Endpoints, Endpoint{Name: e.Name, Method: e.Metadata["method"], Path: e.Metadata["path"]})
	}
	fetchCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	files, err := w.Fetch(fetchCtx, s.Name, s.Version)
	if err == nil {
		api.Files = files
		var refused []string
		b.routes, refused, err = Build(api)
		for _, why := range refused {
			log.Printf("routes: refused: %s", why)
		}
	}
	b.err = err
	if err != nil {
		b.routes = nil
		b.failures++
		wait := w.Retry
		if wait <= 0 {
			wait = 250 * time.Millisecond
		}
		wait = min(wait<<min(b.failures-1, 16), maxRetry)
		b.retry = time.Now().Add(wait)
		// Once per outage, then when it ends: a service that never answers must not fill the log.
		if b.failures == 1 {
			log.Printf("routes: %s (version %s) is not routed: %v (asked again, every %s at most)", s.Name, s.Version, err, maxRetry)
		}
	} else {
		b.retry, b.failures = time.Time{}, 0
		log.Printf("routes: %s (version %s): %d routes", s.Name, s.Version, len(b.routes))
	}
	w.mu.Lock()
	w.versions[key] = b
	w.mu.Unlock()
	return b.routes, b.retry
}

// publish puts the services' routes in force: those of services gone for longer than Grace are
// dropped, those of services gone for less are marked unavailable.
func (w *Watcher) publish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	byService := map[string][]*Route{}
	for name, routes := range w.services {
		left, gone := w.gone[name]
		if gone && time.Since(left) >= w.Grace {
			delete(w.services, name)
			delete(w.gone, name)
			log.Printf("routes: %s's routes are gone", name)
			continue
		}
		if gone {
			marked := make([]*Route, len(routes))
			for i, r := range routes {
				c := *r
				c.gone = left
				marked[i] = &c
			}
			routes = marked
		}
		byService[name] = routes
	}
	table, refused := merge(byService, *w.Table.current.Load())
	now := map[string]bool{}
	for _, claim := range refused {
		now[claim] = true
		if !w.refused[claim] {
			log.Printf("routes: %s: refused", claim)
		}
	}
	w.refused = now
	w.Table.store(table)
}
