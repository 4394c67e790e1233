// Package outage tells a loop that retries an operation when to log: at the first failure of
// an outage and when it ends, not at every failed attempt, so that a dependency down for an
// hour leaves two lines, not one per poll.
package outage

// Change is what an attempt's result changed.
type Change int

const (
	// Unchanged: still working, or still failing.
	Unchanged Change = iota
	// Began: the first failure after a success (or of the first attempt).
	Began
	// Ended: the first success after failures.
	Ended
)

// Tracker remembers whether the last attempt failed. Each loop owns one; it is not safe for
// concurrent use.
type Tracker struct {
	failing bool
}

// Observe records an attempt's result and says what it changed.
func (t *Tracker) Observe(err error) Change {
	switch {
	case err != nil && !t.failing:
		t.failing = true
		return Began
	case err == nil && t.failing:
		t.failing = false
		return Ended
	}
	return Unchanged
}
