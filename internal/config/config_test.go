package config

import (
	"io"
	"testing"
	"time"
)

type testConfig struct {
	Address   string `mapstructure:"address"`
	Greetings struct {
		String string `mapstructure:"string"`
	} `mapstructure:"greetings"`
	TTL    time.Duration `mapstructure:"ttl"`
	Routes []string      `mapstructure:"routes"`
	Limit  int           `mapstructure:"limit"`
}

var testSettings = []Setting{
	{Key: "address", Default: ":8080"},
	{Key: "greetings.string", Default: "hi"},
	{Key: "ttl", Default: 10 * time.Second},
	{Key: "routes", Default: []string{"/a", "/b"}},
	{Key: "limit", Default: 5},
}

func TestPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want testConfig
	}{
		{"defaults", nil, nil, cfg(":8080", "hi", 10*time.Second, []string{"/a", "/b"}, 5)},
		{"environment over default", map[string]string{"GREETINGS_STRING": "from env", "TTL": "3s", "ROUTES": "/x,/y", "LIMIT": "7"}, nil,
			cfg(":8080", "from env", 3*time.Second, []string{"/x", "/y"}, 7)},
		{"flag over environment", map[string]string{"GREETINGS_STRING": "from env"}, []string{"--greetings_string", "from flag", "--ttl=1m", "--routes=/z"},
			cfg(":8080", "from flag", time.Minute, []string{"/z"}, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var got testConfig
			if _, err := Load("test", tc.args, testSettings, &got, io.Discard); err != nil {
				t.Fatal(err)
			}
			if got.Address != tc.want.Address || got.Greetings.String != tc.want.Greetings.String || got.TTL != tc.want.TTL ||
				got.Limit != tc.want.Limit || len(got.Routes) != len(tc.want.Routes) || got.Routes[0] != tc.want.Routes[0] {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func cfg(addr, greeting string, ttl time.Duration, routes []string, limit int) testConfig {
	c := testConfig{Address: addr, TTL: ttl, Routes: routes, Limit: limit}
	c.Greetings.String = greeting
	return c
}

func TestLoadErrors(t *testing.T) {
	var got testConfig
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown flag", []string{"--nope"}, nil},
		{"stray argument", []string{"extra"}, nil},
		{"bad duration flag", []string{"--ttl", "soon"}, nil},
		{"bad duration in environment", nil, map[string]string{"TTL": "soon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if _, err := Load("test", tc.args, testSettings, &got, io.Discard); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	if _, err := Load("test", []string{"--help"}, testSettings, &got, io.Discard); err != ErrHelp {
		t.Fatalf("--help: %v", err)
	}
}

func TestNames(t *testing.T) {
	s := Setting{Key: "greetings.string"}
	if s.Flag() != "greetings_string" || s.Env() != "GREETINGS_STRING" {
		t.Fatal(s.Flag(), s.Env())
	}
}
