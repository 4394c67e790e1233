package stack

import (
	"fmt"
	"net/http"
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

// WaitReady polls ready every 50 ms until it returns nil or timeout has passed, and fails at
// once when the process ends: a process that cannot start says so instead of timing out.
func (p *Process) WaitReady(timeout time.Duration, ready func() error) error {
	return Eventually(timeout, 50*time.Millisecond, func() error {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited: %v", p.Name, err)
		}
		return ready()
	})
}

// AnswersOK is nil when a GET of url is answered 200.
func AnswersOK(client *http.Client, url string) error {
	rsp, err := client.Get(url)
	if err != nil {
		return err
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, rsp.Status)
	}
	return nil
}
