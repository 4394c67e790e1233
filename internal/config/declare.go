package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Declare lists the settings the struct type of v declares, in field order: one declaration
// per setting, from which its flag, environment variable, config-server key, default and
// --help line all follow.
//
// A leaf field (anything but a struct, time.Duration included) with a `usage` tag declares the
// setting whose key is its `mapstructure` names from the root, joined by dots (",squash" adds
// none). Its other tags: `default` (parsed to the field's type; a list is comma-separated;
// none: the zero value), `secret:"true"` (hidden in --help and logs) and `refresh:"true"` (taken
// from the config server while the binary runs). `refresh:"true"` on a struct field makes
// every setting below it refreshable: whether a binary follows changes is the binary's choice.
// A leaf without `usage` reads a setting declared elsewhere and declares nothing.
//
// defaults replaces declared defaults, by key: the ones a binary computes (its own name, the
// routes of proto/) or chooses for a shared struct (the gateway's longer breaker timeout).
func Declare(v any, defaults map[string]any) ([]Setting, error) {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("declare settings: %s is not a struct", t)
	}
	var out []Setting
	if err := declare(t, "", false, &out); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, s := range out {
		if seen[s.Key] {
			return nil, fmt.Errorf("setting %s is declared twice", s.Key)
		}
		seen[s.Key] = true
		if d, ok := defaults[s.Key]; ok {
			if reflect.TypeOf(d) != reflect.TypeOf(s.Default) {
				return nil, fmt.Errorf("setting %s: default %v is a %T, want a %T", s.Key, d, d, s.Default)
			}
			out[i].Default = d
		}
	}
	for key := range defaults {
		if !seen[key] {
			return nil, fmt.Errorf("a default for %s, which is not declared", key)
		}
	}
	return out, nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func declare(t reflect.Type, prefix string, refresh bool, out *[]Setting) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, squash := mapstructureName(f)
		if name == "-" {
			continue
		}
		key := prefix
		if !squash {
			if key != "" {
				key += "."
			}
			key += name
		}
		fieldRefresh := refresh || f.Tag.Get("refresh") == "true"
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			if err := declare(f.Type, key, fieldRefresh, out); err != nil {
				return err
			}
			continue
		}
		usage, declared := f.Tag.Lookup("usage")
		if !declared {
			continue
		}
		def, err := parseDefault(f.Type, f.Tag.Get("default"))
		if err != nil {
			return fmt.Errorf("setting %s: default %q: %w", key, f.Tag.Get("default"), err)
		}
		*out = append(*out, Setting{Key: key, Default: def, Usage: usage, Secret: f.Tag.Get("secret") == "true", Refreshable: fieldRefresh})
	}
	return nil
}

// mapstructureName is the field's key part, and whether it is squashed into its parent.
func mapstructureName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("mapstructure")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(opts, "squash") {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

// parseDefault is text as a default of a field of type t, in the types flags know: string,
// bool, int (for every integer), float64, time.Duration and []string.
func parseDefault(t reflect.Type, text string) (any, error) {
	switch {
	case t == durationType:
		if text == "" {
			return time.Duration(0), nil
		}
		return time.ParseDuration(text)
	case t.Kind() == reflect.String:
		return text, nil
	case t.Kind() == reflect.Bool:
		if text == "" {
			return false, nil
		}
		return strconv.ParseBool(text)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if text == "" {
			return 0, nil
		}
		return strconv.Atoi(text)
	case t.Kind() == reflect.Float64:
		if text == "" {
			return 0.0, nil
		}
		return strconv.ParseFloat(text, 64)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		if text == "" {
			return []string{}, nil
		}
		return strings.Split(text, ","), nil
	}
	return nil, fmt.Errorf("fields of type %s cannot be settings", t)
}
