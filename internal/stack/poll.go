package stack

import (
	"fmt"
	"time"
)

// Eventually calls check every interval until it returns nil or timeout has passed, and then
// returns the last error.
func Eventually(timeout, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// Until is Eventually for a condition without an error of its own: what names it in the
// error when it does not come true in time.
func Until(timeout, interval time.Duration, what string, ok func() bool) error {
	return Eventually(timeout, interval, func() error {
		if !ok() {
			return fmt.Errorf("not yet: %s", what)
		}
		return nil
	})
}
