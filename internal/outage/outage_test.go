package outage

import (
	"errors"
	"testing"
)

func TestTrackerReportsEachOutageOnce(t *testing.T) {
	down := errors.New("down")
	var tr Tracker
	for i, tc := range []struct {
		err  error
		want Change
	}{
		{nil, Unchanged},
		{down, Began},
		{down, Unchanged},
		{down, Unchanged},
		{nil, Ended},
		{nil, Unchanged},
		{down, Began},
		{nil, Ended},
	} {
		if got := tr.Observe(tc.err); got != tc.want {
			t.Errorf("attempt %d (%v): %d, want %d", i, tc.err, got, tc.want)
		}
	}
	var first Tracker
	if got := first.Observe(down); got != Began {
		t.Errorf("a first attempt that fails: %d, want Began", got)
	}
}
