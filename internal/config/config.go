// Package config loads a binary's startup settings into a typed struct.
//
// Every setting has one key (`greetings.string`) that names it everywhere: the flag is the key
// with dots turned into underscores (`--greetings_string`), the environment variable is the flag
// name in upper case (`GREETINGS_STRING`). Precedence, highest first: flag, environment, default.
// viper holds the merged values so that later sources (the config server) slot in between.
package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/mitchellh/mapstructure"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// ErrHelp is returned by Load when the user asked for --help; the usage has been printed.
var ErrHelp = pflag.ErrHelp

// Setting describes one startup setting.
type Setting struct {
	// Key is the dotted configuration key, e.g. "registry.address".
	Key string
	// Default is the value used when neither flag nor environment sets the key. Its type (string,
	// bool, int, time.Duration) decides the flag's type.
	Default any
	// Usage is the one-line help text.
	Usage string
	// Secret hides the value in logs and usage output.
	Secret bool
}

// Flag is the command-line flag name of the setting, without dashes.
func (s Setting) Flag() string { return strings.ReplaceAll(s.Key, ".", "_") }

// Env is the environment variable that sets the setting.
func (s Setting) Env() string { return strings.ToUpper(s.Flag()) }

// Load parses args (without the program name) and the environment into out, a pointer to a
// struct whose fields carry `mapstructure` tags matching the keys. Usage goes to usageOut.
func Load(program string, args []string, settings []Setting, out any, usageOut io.Writer) (*viper.Viper, error) {
	v := viper.New()
	flags := pflag.NewFlagSet(program, pflag.ContinueOnError)
	flags.SetOutput(usageOut)
	for _, s := range settings {
		if err := addFlag(flags, s); err != nil {
			return nil, err
		}
		v.SetDefault(s.Key, s.Default)
		if err := v.BindEnv(s.Key, s.Env()); err != nil {
			return nil, fmt.Errorf("bind %s: %w", s.Env(), err)
		}
	}
	flags.Usage = func() {
		fmt.Fprintf(usageOut, "Usage of %s (every flag can also be set by the environment variable shown):\n", program)
		for _, s := range settings {
			def := fmt.Sprint(s.Default)
			if s.Secret {
				def = "(none)"
			}
			fmt.Fprintf(usageOut, "  --%-28s %-28s %s (default %q)\n", s.Flag(), s.Env(), s.Usage, def)
		}
	}
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are flags like --%s)", flags.Arg(0), settings[0].Flag())
	}
	for _, s := range settings {
		// Only flags given on the command line override; unset flags must not hide the environment.
		if f := flags.Lookup(s.Flag()); f.Changed {
			if _, isList := s.Default.([]string); isList {
				list, _ := flags.GetStringSlice(s.Flag())
				v.Set(s.Key, list)
			} else {
				v.Set(s.Key, f.Value.String())
			}
		}
	}
	if err := Decode(v, out); err != nil {
		return nil, err
	}
	return v, nil
}

// Decode unmarshals the values v holds into out, converting durations and numbers from strings.
func Decode(v *viper.Viper, out any) error {
	err := v.Unmarshal(out, func(c *mapstructure.DecoderConfig) {
		c.ErrorUnused = false
		c.WeaklyTypedInput = true
		c.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		return fmt.Errorf("decode settings: %w", err)
	}
	return nil
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
	case time.Duration:
		flags.Duration(name, d, usage)
	case []string:
		flags.StringSlice(name, d, usage)
	default:
		return fmt.Errorf("setting %s: unsupported default type %s", s.Key, reflect.TypeOf(s.Default))
	}
	return nil
}
