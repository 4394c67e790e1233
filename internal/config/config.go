// Package config loads a binary's settings into a typed struct and keeps them current.
//
// Every setting has one key (`greetings.string`) that names it everywhere: the flag is the key
// with dots turned into underscores (`--greetings_string`), the environment variable is the flag
// name in upper case (`GREETINGS_STRING`), and in the config repository it is the key itself.
// Precedence, highest first: flag, environment, config server, default. Values may hold Spring
// placeholders (`${JWT_SECRET}`, `${DATABASE_DSN:var/user.db}`), resolved against the environment
// and the other settings.
//
// Binaries that boot from the config server (App.Remote) also take the bootstrap settings:
// --profile, --config_server, --config_label and the rest of BootstrapSettings.
package config

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// ErrHelp is returned by Load when the user asked for --help; the usage has been printed.
var ErrHelp = pflag.ErrHelp

// Setting describes one setting.
type Setting struct {
	// Key is the dotted configuration key, e.g. "registry.address".
	Key string
	// Default is the value used when no source sets the key. Its type (string, bool, int,
	// float64, time.Duration, []string) decides the flag's type.
	Default any
	// Usage is the one-line help text.
	Usage string
	// Secret hides the value in usage output and change logs.
	Secret bool
	// Refreshable settings take a new value from the config server while the binary runs;
	// the others keep the value they started with until a restart.
	Refreshable bool
}

// Flag is the command-line flag name of the setting, without dashes.
func (s Setting) Flag() string { return strings.ReplaceAll(s.Key, ".", "_") }

// Env is the environment variable that sets the setting.
func (s Setting) Env() string { return strings.ToUpper(s.Flag()) }

// App describes a binary's settings.
type App struct {
	// Name is the program name, and the application name asked of the config server unless
	// config.name says otherwise.
	Name string
	// Settings are declared by the struct Load decodes into (see Declare), with Defaults
	// replacing some defaults by key; a test may list them here instead.
	Settings []Setting
	Defaults map[string]any
	// Remote boots the settings from a Spring Cloud Config server; the bootstrap settings are
	// added to Settings.
	Remote bool
	// Usage receives --help output and flag errors.
	Usage io.Writer
}

func (a App) allSettings(out any) ([]Setting, error) {
	settings := a.Settings
	if settings == nil {
		var err error
		if settings, err = Declare(out, a.Defaults); err != nil {
			return nil, err
		}
	}
	if !a.Remote {
		return settings, nil
	}
	return append(append([]Setting(nil), settings...), BootstrapSettings(a.Name)...), nil
}

// Load parses args (without the program name) and the environment, fetches the config server's
// properties when app.Remote, and decodes the result into out, a pointer to a struct whose
// fields declare the settings (see Declare).
func Load(ctx context.Context, app App, args []string, out any) (*Source, error) {
	settings, err := app.allSettings(out)
	if err != nil {
		return nil, err
	}
	flags, err := parseFlags(app.Name, args, settings, app.Usage)
	if err != nil {
		return nil, err
	}
	s := &Source{settings: settings, flags: flags}
	if s.v, err = s.build(nil); err != nil {
		return nil, err
	}
	if app.Remote {
		if err := s.bootRemote(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.Decode(out); err != nil {
		return nil, err
	}
	return s, nil
}

// parseFlags parses the command line into a flag per setting.
func parseFlags(program string, args []string, settings []Setting, usageOut io.Writer) (*pflag.FlagSet, error) {
	if usageOut == nil {
		usageOut = io.Discard
	}
	flags := pflag.NewFlagSet(program, pflag.ContinueOnError)
	flags.SetOutput(usageOut)
	for _, s := range settings {
		if err := addFlag(flags, s); err != nil {
			return nil, err
		}
	}
	flags.Usage = func() {
		fmt.Fprintf(usageOut, "Usage of %s (every flag can also be set by the environment variable shown):\n", program)
		for _, s := range settings {
			def := fmt.Sprint(s.Default)
			if s.Secret {
				def = "(none)"
			}
			fmt.Fprintf(usageOut, "  --%-32s %-32s %s (default %q)\n", s.Flag(), s.Env(), s.Usage, def)
		}
	}
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are flags like --%s)", flags.Arg(0), settings[0].Flag())
	}
	return flags, nil
}

// decode unmarshals the values v holds into out, converting durations and numbers from strings
// and numbers without a unit into milliseconds, as Spring Boot reads durations.
func decode(v *viper.Viper, out any) error {
	err := v.Unmarshal(out, func(c *mapstructure.DecoderConfig) {
		c.ErrorUnused = false
		c.WeaklyTypedInput = true
		c.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			millisecondsToDuration,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		return fmt.Errorf("decode settings: %w", err)
	}
	return nil
}

func millisecondsToDuration(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	switch n := data.(type) {
	case int:
		return time.Duration(n) * time.Millisecond, nil
	case int64:
		return time.Duration(n) * time.Millisecond, nil
	case float64:
		return time.Duration(n * float64(time.Millisecond)), nil
	}
	return data, nil
}

func addFlag(flags *pflag.FlagSet, s Setting) error {
	name, usage := s.Flag(), s.Usage+" (env "+s.Env()+")"
	switch d := s.Default.(type) {
	case string:
		flags.String(name, d, usage)
	case bool:
		flags.Bool(name, d, usage)
	case int:
		flags.Int(name, d, usage)
	case float64:
		flags.Float64(name, d, usage)
	case time.Duration:
		flags.Duration(name, d, usage)
	case []string:
		flags.StringSlice(name, d, usage)
	default:
		return fmt.Errorf("setting %s: unsupported default type %s", s.Key, reflect.TypeOf(s.Default))
	}
	return nil
}
