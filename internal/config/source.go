package config

import (
	"context"
	"fmt"
	"log"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/gomicro-stack/gomicro-stack/internal/cloudconfig"
	"github.com/gomicro-stack/gomicro-stack/internal/outage"
)

// Source holds a binary's current settings: the flags it was started with, its environment,
// the config server's properties and the defaults.
type Source struct {
	settings []Setting
	flags    *pflag.FlagSet
	client   *Client

	mu sync.RWMutex
	v  *viper.Viper
	// fingerprint identifies the config server's answer applied last.
	fingerprint string
	// pending are changed values of non-refreshable settings already reported, by key.
	pending map[string]string
}

// Decode unmarshals the current settings into out.
func (s *Source) Decode(out any) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return decode(s.v, out)
}

// String returns the current value of key.
func (s *Source) String(key string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.v.GetString(key)
}

// build layers the sources into a fresh viper, whose precedence is ours: a flag given on the
// command line, then the environment, then the config server, then the default. It then
// resolves placeholders in the declared settings. A placeholder with neither a value nor a
// default is an error naming the setting.
func (s *Source) build(remote *cloudconfig.Properties) (*viper.Viper, error) {
	v := viper.New()
	for _, st := range s.settings {
		v.SetDefault(st.Key, st.Default)
		if err := v.BindEnv(st.Key, st.Env()); err != nil {
			return nil, fmt.Errorf("bind %s: %w", st.Env(), err)
		}
		// viper takes a bound flag only when it was given (Changed), above everything else.
		if err := v.BindPFlag(st.Key, s.flags.Lookup(st.Flag())); err != nil {
			return nil, fmt.Errorf("bind --%s: %w", st.Flag(), err)
		}
	}
	if remote != nil && remote.Len() > 0 {
		layer, err := s.remoteLayer(*remote)
		if err != nil {
			return nil, fmt.Errorf("config server properties: %w", err)
		}
		if err := v.MergeConfigMap(layer); err != nil {
			return nil, fmt.Errorf("config server properties: %w", err)
		}
	}
	lookup := func(key string) (string, bool) {
		if value, ok := os.LookupEnv(key); ok {
			return value, true
		}
		if v.IsSet(key) {
			return v.GetString(key), true
		}
		if remote != nil {
			if value, ok := remote.Get(key); ok {
				return cloudconfig.FormatValue(value), true
			}
		}
		// Spring's relaxed binding: ${greetings.string} also finds GREETINGS_STRING.
		return os.LookupEnv(strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key)))
	}
	for _, st := range s.settings {
		text, ok := v.Get(st.Key).(string)
		if !ok || !strings.Contains(text, "${") {
			continue
		}
		resolved, err := cloudconfig.Resolve(text, lookup, false)
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", st.Key, err)
		}
		v.Set(st.Key, resolved)
	}
	return v, nil
}

// remoteLayer picks the declared settings out of the config server's flat properties and nests
// them for viper. Only declared keys are nested: Spring's own sample repository holds both
// `foo` and `foo.db`, which no nested map can, and which Spring binds without complaint. Keys
// match case-insensitively, as Spring's relaxed binding does; a list setting gathers key[i].
func (s *Source) remoteLayer(remote cloudconfig.Properties) (map[string]any, error) {
	var declared cloudconfig.Properties
	for _, st := range s.settings {
		want := strings.ToLower(st.Key)
		var sub cloudconfig.Properties
		for _, k := range remote.Keys() {
			lower := strings.ToLower(k)
			value, _ := remote.Get(k)
			switch {
			case lower == want:
				declared.Set(st.Key, value)
			case strings.HasPrefix(lower, want+"[") || strings.HasPrefix(lower, want+"."):
				sub.Set("v"+k[len(want):], value)
			}
		}
		if _, scalar := declared.Get(st.Key); scalar || sub.Len() == 0 {
			continue
		}
		tree, err := cloudconfig.Nest(sub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.Key, err)
		}
		declared.Set(st.Key, tree.Map()["v"])
	}
	tree, err := cloudconfig.Nest(declared)
	if err != nil {
		return nil, err
	}
	return tree.Map(), nil
}

// bootRemote fetches the config server's properties and layers them in. Without fail-fast, a
// server that cannot be reached leaves the local settings in place with a warning; Watch keeps
// trying.
func (s *Source) bootRemote(ctx context.Context) error {
	var boot Bootstrap
	if err := decode(s.v, &boot); err != nil {
		return err
	}
	if !boot.Config.Enabled {
		return nil
	}
	if err := boot.Validate(); err != nil {
		return err
	}
	s.client = NewClient(boot)
	env, err := s.client.Fetch(ctx)
	if err != nil {
		if boot.Config.FailFast {
			return err
		}
		log.Printf("warning: %v; starting on flags, environment and defaults (fail-fast is off)", err)
		return nil
	}
	v, err := s.buildFrom(env)
	if err != nil {
		return err
	}
	s.v, s.fingerprint = v, fingerprint(env)
	log.Printf("configuration from %s: %d property sources%s", s.client.LastURL(), len(env.PropertySources), describeVersion(env))
	return nil
}

// buildFrom layers the config server's answer into a fresh viper.
func (s *Source) buildFrom(env cloudconfig.Environment) (*viper.Viper, error) {
	merged := cloudconfig.Merge(env.PropertySources)
	if err := invalidProperties(merged); err != nil {
		return nil, err
	}
	return s.build(&merged)
}

// invalidProperties reports values the config server could not decrypt: running with them
// missing would fall back to a default where the operator meant a secret.
func invalidProperties(p cloudconfig.Properties) error {
	var bad []string
	for _, k := range p.Keys() {
		if strings.HasPrefix(k, "invalid.") {
			bad = append(bad, strings.TrimPrefix(k, "invalid."))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the config server could not decrypt %s (is ENCRYPT_KEY set on the server?)", strings.Join(bad, ", "))
	}
	return nil
}

func describeVersion(env cloudconfig.Environment) string {
	if env.Version == nil {
		return ""
	}
	return " at version " + *env.Version
}

// Watch polls the config server every config.refresh_interval until ctx ends. When refreshable
// settings changed, it swaps them in and calls apply, which may reject the new settings by
// returning an error (they are then rolled back). Changes to other settings are logged once, as
// needing a restart.
func (s *Source) Watch(ctx context.Context, apply func(*Source) error) {
	if s.client == nil || s.client.boot.Config.RefreshInterval <= 0 {
		return
	}
	ticker := time.NewTicker(s.client.boot.Config.RefreshInterval)
	defer ticker.Stop()
	var outages outage.Tracker
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := s.refresh(ctx, apply)
		switch outages.Observe(err) {
		case outage.Began:
			log.Printf("config refresh: %v (keeping the current settings)", err)
		case outage.Ended:
			log.Printf("config refresh works again")
		}
	}
}

func (s *Source) refresh(ctx context.Context, apply func(*Source) error) error {
	env, err := s.client.fetchOnce(ctx)
	if err != nil {
		return err
	}
	print := fingerprint(env)
	s.mu.RLock()
	same := print == s.fingerprint
	old := s.v
	s.mu.RUnlock()
	if same {
		return nil
	}
	next, err := s.buildFrom(env)
	if err != nil {
		return err
	}
	var refreshed []string
	for _, st := range s.settings {
		before, after := old.Get(st.Key), next.Get(st.Key)
		if reflect.DeepEqual(before, after) {
			continue
		}
		if !st.Refreshable {
			// Keep what the binary started with; say so once per new value.
			next.Set(st.Key, before)
			if shown := fmt.Sprint(after); s.pending[st.Key] != shown {
				if s.pending == nil {
					s.pending = map[string]string{}
				}
				s.pending[st.Key] = shown
				log.Printf("config: %s changed on the config server to %s; restart to apply", st.Key, display(st, after))
			}
			continue
		}
		refreshed = append(refreshed, fmt.Sprintf("%s: %s → %s", st.Key, display(st, before), display(st, after)))
	}
	s.mu.Lock()
	s.v, s.fingerprint = next, print
	s.mu.Unlock()
	if len(refreshed) == 0 {
		return nil
	}
	if err := apply(s); err != nil {
		s.mu.Lock()
		s.v = old
		s.mu.Unlock()
		return fmt.Errorf("new settings rejected (%s): %w", strings.Join(refreshed, "; "), err)
	}
	log.Printf("config refreshed%s: %s", describeVersion(env), strings.Join(refreshed, "; "))
	return nil
}

func display(st Setting, v any) string {
	if st.Secret {
		return "(secret)"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}
