package boot

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/config"
	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

type settings struct {
	Greeting string         `mapstructure:"greeting" default:"hello" usage:"a greeting"`
	Tracing  tracing.Config `mapstructure:"tracing"`
}

func (s settings) TracingConfig() tracing.Config { return s.Tracing }

// TestStart: the settings are loaded into the typed struct (flags over defaults), validate sees
// them and its refusal stops the start, and tracing's own settings are checked.
func TestStart(t *testing.T) {
	app := config.App{Name: "boot-test", Usage: io.Discard}
	refuse := errors.New("refused")
	for _, tc := range []struct {
		name     string
		args     []string
		validate func(settings) error
		want     string // the greeting, or the error
	}{
		{"defaults", nil, nil, "hello"},
		{"a flag", []string{"--greeting", "hi"}, nil, "hi"},
		{"validated", []string{"--greeting", "hi"}, func(s settings) error {
			if s.Greeting != "hi" {
				return errors.New("validate saw " + s.Greeting)
			}
			return nil
		}, "hi"},
		{"refused", nil, func(settings) error { return refuse }, "refused"},
		{"bad tracing setting", []string{"--tracing_sampling_ratio", "2"}, nil, "tracing.sampling_ratio"},
		{"unknown flag", []string{"--nope"}, nil, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Start(context.Background(), app, tc.args, tracing.Internal, tc.validate)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			defer b.Stop()
			if b.Config.Greeting != tc.want {
				t.Fatalf("greeting %q, want %q", b.Config.Greeting, tc.want)
			}
			// Without a config server there is nothing to follow: Follow returns and never applies.
			b.Follow(context.Background(), func(settings) error { t.Error("applied without a config server"); return nil })
		})
	}
}
