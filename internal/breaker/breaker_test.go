package breaker

import (
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

func valid() Config {
	return Config{Timeout: time.Second, MaxConcurrent: 10, ErrorPercent: 50, RequestVolume: 20, SleepWindow: 5 * time.Second}
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"timeout":        func(c *Config) { c.Timeout = 0 },
		"max concurrent": func(c *Config) { c.MaxConcurrent = 0 },
		"error percent":  func(c *Config) { c.ErrorPercent = 101 },
		"request volume": func(c *Config) { c.RequestVolume = 0 },
		"sleep window":   func(c *Config) { c.SleepWindow = 0 },
	} {
		c := valid()
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	c := valid()
	c.Timeout, c.MaxConcurrent = 250*time.Millisecond, 3
	if err := Apply([]string{"test.cmd"}, c); err != nil {
		t.Fatal(err)
	}
	got := hystrix.GetCircuitSettings()["test.cmd"]
	if got.Timeout != 250*time.Millisecond || timeoutOf("test.cmd") != 250*time.Millisecond || got.MaxConcurrentRequests != 3 || got.SleepWindow != 5*time.Second {
		t.Fatalf("hystrix settings %+v", got)
	}
	bad := c
	bad.ErrorPercent = 0
	if Apply([]string{"test.cmd"}, bad) == nil {
		t.Fatal("invalid settings must be refused")
	}
}

func TestSetDefaults(t *testing.T) {
	c := valid()
	c.Timeout, c.MaxConcurrent = 3*time.Second, 64
	if err := SetDefaults(c); err != nil {
		t.Fatal(err)
	}
	defer SetDefaults(Config{Timeout: time.Second, MaxConcurrent: 10, ErrorPercent: 50, RequestVolume: 20, SleepWindow: 5 * time.Second})
	if timeoutOf("never.configured") != 3*time.Second || hystrix.DefaultMaxConcurrent != 64 {
		t.Fatalf("defaults: %s %d", timeoutOf("never.configured"), hystrix.DefaultMaxConcurrent)
	}
}
