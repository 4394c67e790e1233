package main

import (
	"slices"
	"sort"
)

// Spread is the lowest and highest of a figure over the rounds; the figure itself is their
// median.
type Spread struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// rotated is targets as round r measures them: started r places further on, so that over the
// rounds each target runs first, in the middle and last, and none always follows the same one
// (a machine's slow minute, or the heat another target left, falls on each alike).
func rotated(targets []string, r int) []string {
	if len(targets) == 0 {
		return nil
	}
	r %= len(targets)
	return append(slices.Clone(targets[r:]), targets[:r]...)
}

// median is the median of xs (the mean of the middle two for an even count), and their spread.
func median(xs []float64) (float64, Spread) {
	if len(xs) == 0 {
		return 0, Spread{}
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return m, Spread{Min: s[0], Max: s[len(s)-1]}
}

// medianOf makes one result of the rounds of one level of one target: every figure is the
// median of the rounds, errors their sum, peak memory their highest; ok req/s, p99 and each
// process's CPU per answered request keep their spread.
func medianOf(rounds []Result) Result {
	if len(rounds) == 0 {
		return Result{}
	}
	pick := func(f func(Result) float64) (float64, Spread) {
		var xs []float64
		for _, r := range rounds {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	out := Result{Connections: rounds[0].Connections, Rounds: len(rounds)}
	for _, r := range rounds {
		out.Requests += r.Requests
		out.Errors += r.Errors
		if out.FirstError == "" {
			out.FirstError = r.FirstError
		}
	}
	out.RPS, _ = pick(func(r Result) float64 { return r.RPS })
	out.OKRPS, out.OKRPSSpread = pick(func(r Result) float64 { return r.OKRPS })
	out.P50Ms, _ = pick(func(r Result) float64 { return r.P50Ms })
	out.P90Ms, _ = pick(func(r Result) float64 { return r.P90Ms })
	out.P99Ms, out.P99Spread = pick(func(r Result) float64 { return r.P99Ms })
	out.P999Ms, _ = pick(func(r Result) float64 { return r.P999Ms })
	out.OKP99Ms, _ = pick(func(r Result) float64 { return r.OKP99Ms })
	for _, p := range rounds[0].Processes {
		of := func(r Result) ProcessUse {
			for _, q := range r.Processes {
				if q.Name == p.Name {
					return q
				}
			}
			return ProcessUse{}
		}
		use := ProcessUse{Name: p.Name}
		use.CPUSeconds, _ = pick(func(r Result) float64 { return of(r).CPUSeconds })
		use.CPUPerRequestUs, use.CPUPerRequestSpread = pick(func(r Result) float64 { return of(r).CPUPerRequestUs })
		for _, r := range rounds {
			use.PeakRSSMiB = max(use.PeakRSSMiB, of(r).PeakRSSMiB)
		}
		out.Processes = append(out.Processes, use)
	}
	out.CPUPerRequestUs, out.CPUPerRequestSpread = pick(func(r Result) float64 {
		sum := 0.0
		for _, p := range r.Processes {
			sum += p.CPUPerRequestUs
		}
		return sum
	})
	return out
}

// byLevel turns rounds of levels into levels of rounds.
func byLevel(rounds [][]Result) [][]Result {
	var levels [][]Result
	for _, round := range rounds {
		for i, r := range round {
			if i == len(levels) {
				levels = append(levels, nil)
			}
			levels[i] = append(levels[i], r)
		}
	}
	return levels
}
