// Package breaker holds the settings of the hystrix circuit breakers that guard outgoing calls,
// and applies them to hystrix-go, at start and whenever the config server changes them.
package breaker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

// Config is one breaker's settings.
type Config struct {
	// Timeout is how long a call may take before it counts as failed.
	Timeout time.Duration `mapstructure:"timeout" default:"1s" usage:"a call slower than this fails"`
	// MaxConcurrent is how many calls may run at once; more are rejected at once (Netflix's
	// semaphore isolation). A call's slot is given back as soon as it ends.
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

// limit is a command's timeout and its bound on concurrent calls, with the calls running.
type limit struct {
	timeout time.Duration
	max     int64
	running *atomic.Int64 // shared by the limits of one command, so that a change keeps the count
}

// acquire takes a slot for a call, unless max calls are running.
func (l *limit) acquire() bool {
	if l.running.Add(1) > l.max {
		l.running.Add(-1)
		return false
	}
	return true
}

func (l *limit) release() { l.running.Add(-1) }

// limits are the configured commands' limits (command → *limit); the others get a copy of
// defaultLimit at their first call, kept in unconfigured (see SetDefaults).
var (
	limits       sync.Map
	defaultLimit atomic.Pointer[limit]
	unconfigured sync.Map
)

func init() {
	defaultLimit.Store(&limit{timeout: time.Second, max: int64(hystrix.DefaultMaxConcurrent)})
}

func limitOf(command string) *limit {
	if l, ok := limits.Load(command); ok {
		return l.(*limit)
	}
	if l, ok := unconfigured.Load(command); ok {
		return l.(*limit)
	}
	d := defaultLimit.Load()
	l, _ := unconfigured.LoadOrStore(command, &limit{timeout: d.timeout, max: d.max, running: new(atomic.Int64)})
	return l.(*limit)
}

func timeoutOf(command string) time.Duration { return limitOf(command).timeout }

// SetDefaults makes c the settings of every command not configured by Apply, in place of
// hystrix-go's own defaults (10 concurrent calls, too few under load). hystrix-go reads its
// defaults without a lock: call this once, before the first call.
func SetDefaults(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	defaultLimit.Store(&limit{timeout: c.Timeout, max: int64(c.MaxConcurrent)})
	unconfigured.Clear()
	hystrix.DefaultTimeout = int(c.Timeout / time.Millisecond)
	hystrix.DefaultMaxConcurrent = c.MaxConcurrent
	hystrix.DefaultVolumeThreshold = c.RequestVolume
	hystrix.DefaultSleepWindow = int(c.SleepWindow / time.Millisecond)
	hystrix.DefaultErrorPercentThreshold = c.ErrorPercent
	return nil
}

// Apply configures the hystrix commands with c; a change applies from the next call on,
// without closing open breakers or clearing their statistics.
func Apply(commands []string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, name := range commands {
		running := new(atomic.Int64)
		if l, ok := limits.Load(name); ok {
			running = l.(*limit).running
		}
		limits.Store(name, &limit{timeout: c.Timeout, max: int64(c.MaxConcurrent), running: running})
		hystrix.ConfigureCommand(name, hystrix.CommandConfig{
			Timeout:                int(c.Timeout / time.Millisecond),
			MaxConcurrentRequests:  c.MaxConcurrent,
			RequestVolumeThreshold: c.RequestVolume,
			SleepWindow:            int(c.SleepWindow / time.Millisecond),
			ErrorPercentThreshold:  c.ErrorPercent,
		})
	}
	return nil
}
