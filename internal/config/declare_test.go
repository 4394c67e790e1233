package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type shared struct {
	Timeout time.Duration `mapstructure:"timeout" default:"1s" usage:"call timeout"`
	Workers int           `mapstructure:"workers" usage:"workers (0: one per CPU)"`
}

type declared struct {
	Name  string   `mapstructure:"name" default:"svc" usage:"the name"`
	Paths []string `mapstructure:"paths" default:"/a,/b" refresh:"true" usage:"paths"`
	Key   string   `mapstructure:"key" secret:"true" usage:"a secret"`
	Rate  float64  `mapstructure:"rate" default:"0.5" usage:"rate"`
	Big   int64    `mapstructure:"big" default:"1048576" usage:"bytes"`
	On    bool     `mapstructure:"on" default:"true" usage:"on"`
	Read  string   `mapstructure:"read"` // no usage: declared elsewhere
	Inner struct {
		shared `mapstructure:",squash" refresh:"true"`
		Deep   struct {
			Value string `mapstructure:"value" usage:"deep"`
		} `mapstructure:"deep"`
	} `mapstructure:"inner"`
}

func TestDeclare(t *testing.T) {
	got, err := Declare(&declared{}, map[string]any{"inner.timeout": 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{
		{Key: "name", Default: "svc", Usage: "the name"},
		{Key: "paths", Default: []string{"/a", "/b"}, Usage: "paths", Refreshable: true},
		{Key: "key", Default: "", Usage: "a secret", Secret: true},
		{Key: "rate", Default: 0.5, Usage: "rate"},
		{Key: "big", Default: 1048576, Usage: "bytes"},
		{Key: "on", Default: true, Usage: "on"},
		{Key: "inner.timeout", Default: 5 * time.Second, Usage: "call timeout", Refreshable: true},
		{Key: "inner.workers", Default: 0, Usage: "workers (0: one per CPU)", Refreshable: true},
		{Key: "inner.deep.value", Default: "", Usage: "deep"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestDeclareRefusesMistakes(t *testing.T) {
	type twice struct {
		A string `mapstructure:"a" usage:"a"`
		B string `mapstructure:"a" usage:"a again"`
	}
	type badDefault struct {
		D time.Duration `mapstructure:"d" default:"soon" usage:"d"`
	}
	type badType struct {
		M map[string]string `mapstructure:"m" usage:"m"`
	}
	for _, tc := range []struct {
		name     string
		v        any
		defaults map[string]any
		want     string
	}{
		{"declared twice", twice{}, nil, "declared twice"},
		{"default that does not parse", badDefault{}, nil, "soon"},
		{"type flags cannot take", badType{}, nil, "cannot be settings"},
		{"default for nothing", declared{}, map[string]any{"nope": "x"}, "not declared"},
		{"default of another type", declared{}, map[string]any{"name": 5}, "want a string"},
		{"not a struct", 5, nil, "not a struct"},
	} {
		if _, err := Declare(tc.v, tc.defaults); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestLoadDeclaredSettings: a struct that declares its settings is loaded with them: flag, then
// environment, then default, and --help lists them.
func TestLoadDeclaredSettings(t *testing.T) {
	t.Setenv("INNER_WORKERS", "3")
	var out declared
	var help strings.Builder
	if _, err := Load(t.Context(), App{Name: "t", Usage: &help}, []string{"--name", "flagged"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Name != "flagged" || out.Inner.Workers != 3 || out.Inner.Timeout != time.Second || out.Big != 1<<20 || !out.On || len(out.Paths) != 2 {
		t.Fatalf("%+v", out)
	}
	if _, err := Load(t.Context(), App{Name: "t", Usage: &help}, []string{"--help"}, &out); err != ErrHelp {
		t.Fatal(err)
	}
	if !strings.Contains(help.String(), "--inner_deep_value") || !strings.Contains(help.String(), `a secret (default "(none)")`) {
		t.Fatalf("help:\n%s", help.String())
	}
}
