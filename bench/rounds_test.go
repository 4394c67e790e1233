package main

import (
	"reflect"
	"testing"
)

func TestRotated(t *testing.T) {
	targets := []string{"a", "b", "c"}
	for r, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotated(targets, r); !reflect.DeepEqual(got, want) {
			t.Errorf("round %d: %v, want %v", r, got, want)
		}
	}
	if !reflect.DeepEqual(targets, []string{"a", "b", "c"}) {
		t.Errorf("rotated changed its argument: %v", targets)
	}
}

func TestMedianOf(t *testing.T) {
	round := func(okRPS, p99, gatewayCPU, userCPU, rss float64, errors int) Result {
		return Result{Connections: 16, OKRPS: okRPS, P99Ms: p99, Errors: errors, Processes: []ProcessUse{
			{Name: "gateway", CPUPerRequestUs: gatewayCPU, PeakRSSMiB: rss},
			{Name: "user", CPUPerRequestUs: userCPU, PeakRSSMiB: 10},
		}}
	}
	got := medianOf([]Result{round(5000, 20, 100, 60, 30, 0), round(4000, 25, 110, 50, 41, 2), round(6000, 15, 90, 70, 35, 1)})
	if got.Rounds != 3 || got.OKRPS != 5000 || got.OKRPSSpread != (Spread{4000, 6000}) || got.P99Ms != 20 || got.P99Spread != (Spread{15, 25}) || got.Errors != 3 {
		t.Fatalf("medians %+v", got)
	}
	gateway := got.Processes[0]
	if gateway.CPUPerRequestUs != 100 || gateway.CPUPerRequestSpread != (Spread{90, 110}) || gateway.PeakRSSMiB != 41 {
		t.Fatalf("gateway %+v", gateway)
	}
	// The sum's median is the median of each round's sum (160, 160, 160), not a sum of medians.
	if got.CPUPerRequestUs != 160 {
		t.Fatalf("summed CPU per request %v", got.CPUPerRequestUs)
	}
	if m, s := median([]float64{4, 1, 3, 2}); m != 2.5 || s != (Spread{1, 4}) {
		t.Fatalf("median of four: %v %v", m, s)
	}
}
