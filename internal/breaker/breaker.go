// Package breaker holds the settings of the hystrix circuit breakers that guard outgoing calls,
// and applies them to hystrix-go, at start and whenever the config server changes them.
package breaker

import (
	"fmt"
	"sync"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

// Config is one breaker's settings.
type Config struct {
	// Timeout is how long a call may take before it counts as failed.
	Timeout time.Duration `mapstructure:"timeout" default:"1s" usage:"a call slower than this fails"`
	// MaxConcurrent is how many calls may run at once; more are rejected at once. It is a load
	// shedder, not an exact count: hystrix-go hands a call's slot back just after the caller
	// has its answer (through an unbuffered metrics channel), so back-to-back calls on a busy
	// machine can briefly find a few slots still taken. Leave headroom above real concurrency.
	MaxConcurrent int `mapstructure:"max_concurrent" default:"1000" usage:"calls at once before more are rejected"`
	// ErrorPercent is the failure rate, over the last 10 s, that opens the breaker.
	ErrorPercent int `mapstructure:"error_percent" default:"50" usage:"failure percentage that opens the breaker"`
	// RequestVolume is how many calls in 10 s it takes before the rate counts.
	RequestVolume int `mapstructure:"request_volume" default:"20" usage:"calls in 10s before the failure percentage counts"`
	// SleepWindow is how long an open breaker rejects calls before it lets one through to probe.
	SleepWindow time.Duration `mapstructure:"sleep_window" default:"5s" usage:"how long an open breaker waits before probing"`
}

// Validate reports settings hystrix cannot use.
func (c Config) Validate() error {
	switch {
	case c.Timeout < time.Millisecond:
		return fmt.Errorf("breaker.timeout %s: want at least 1ms", c.Timeout)
	case c.MaxConcurrent < 1:
		return fmt.Errorf("breaker.max_concurrent %d: want at least 1", c.MaxConcurrent)
	case c.ErrorPercent < 1 || c.ErrorPercent > 100:
		return fmt.Errorf("breaker.error_percent %d: want 1 to 100", c.ErrorPercent)
	case c.RequestVolume < 1:
		return fmt.Errorf("breaker.request_volume %d: want at least 1", c.RequestVolume)
	case c.SleepWindow < time.Millisecond:
		return fmt.Errorf("breaker.sleep_window %s: want at least 1ms", c.SleepWindow)
	}
	return nil
}

// timeouts are the configured call timeouts by command; hystrix's own timer is set a margin
// later (see timeoutMargin).
var timeouts sync.Map

// defaultTimeout applies to commands Apply has not configured (see SetDefaults).
var defaultTimeout = time.Second

func timeoutOf(command string) time.Duration {
	if d, ok := timeouts.Load(command); ok {
		return d.(time.Duration)
	}
	return defaultTimeout
}

// SetDefaults makes c the settings of every command not configured by Apply, in place of
// hystrix-go's own defaults (10 concurrent calls, too few under load). hystrix-go reads its
// defaults without a lock: call this once, before the first call.
func SetDefaults(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	defaultTimeout = c.Timeout
	hystrix.DefaultTimeout = int((c.Timeout + timeoutMargin) / time.Millisecond)
	hystrix.DefaultMaxConcurrent = c.MaxConcurrent
	hystrix.DefaultVolumeThreshold = c.RequestVolume
	hystrix.DefaultSleepWindow = int(c.SleepWindow / time.Millisecond)
	hystrix.DefaultErrorPercentThreshold = c.ErrorPercent
	return nil
}

// Apply configures the hystrix commands with c. hystrix-go sizes a command's pool of
// concurrent calls once, so a new max_concurrent takes effect only by flushing every circuit,
// which also closes open breakers and clears their statistics.
func Apply(commands []string, c, previous Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, name := range commands {
		timeouts.Store(name, c.Timeout)
		hystrix.ConfigureCommand(name, hystrix.CommandConfig{
			Timeout:                int((c.Timeout + timeoutMargin) / time.Millisecond),
			MaxConcurrentRequests:  c.MaxConcurrent,
			RequestVolumeThreshold: c.RequestVolume,
			SleepWindow:            int(c.SleepWindow / time.Millisecond),
			ErrorPercentThreshold:  c.ErrorPercent,
		})
	}
	if previous.MaxConcurrent != 0 && previous.MaxConcurrent != c.MaxConcurrent {
		hystrix.Flush()
	}
	return nil
}
