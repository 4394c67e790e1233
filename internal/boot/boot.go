// Package boot is how every binary of the stack starts: main's exit on error, the settings
// loaded into the binary's typed struct (flags, environment, config server), tracing started,
// and the settings decoded again, as that struct, for the parts that follow the config server.
package boot

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

// Main runs run with the command line (without the program name) and exits 1 with
// "name: error" when it fails; --help, which printed the usage, is no failure.
func Main(name string, run func(args []string) error) {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Settings is a binary's settings struct: it says where its tracing settings are
// (microsvc.Config and microsvc.ClientConfig do, for the binaries that embed them).
type Settings interface {
	TracingConfig() tracing.Config
}

// Binary is a started binary: its settings, and what follows them.
type Binary[C Settings] struct {
	// Config is what the binary started with.
	Config      C
	source      *config.Source
	stopTracing func()
}

// Start loads app's settings into a C, checks them with validate (when given) and starts
// tracing as app.Name in role. Stop ends the tracing (it sends what is queued).
func Start[C Settings](ctx context.Context, app config.App, args []string, role tracing.Role, validate func(C) error) (*Binary[C], error) {
	if app.Usage == nil {
		app.Usage = os.Stderr
	}
	b := &Binary[C]{}
	source, err := config.Load(ctx, app, args, &b.Config)
	if err != nil {
		return nil, err
	}
	if validate != nil {
		if err := validate(b.Config); err != nil {
			return nil, err
		}
	}
	if b.stopTracing, err = tracing.Start(b.Config.TracingConfig(), app.Name, role); err != nil {
		return nil, err
	}
	b.source = source
	return b, nil
}

// Follow hands apply the settings, decoded afresh, each time they change on the config server,
// until ctx ends; apply updates what can change without a restart. A decode or apply error keeps
// what runs and is logged (config.Source.Watch says how). It returns at once.
func (b *Binary[C]) Follow(ctx context.Context, apply func(next C) error) {
	go b.source.Watch(ctx, func(s *config.Source) error {
		var next C
		if err := s.Decode(&next); err != nil {
			return err
		}
		return apply(next)
	})
}

// Stop ends tracing, sending the spans still queued.
func (b *Binary[C]) Stop() { b.stopTracing() }
