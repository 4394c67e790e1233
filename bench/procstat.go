package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ProcessUse is one process's share of a load level.
type ProcessUse struct {
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// CPUPerRequestUs is the CPU it spent per full answer (200, not degraded): steadier than
	// requests per second on a shared machine, and the figure a lever moves.
	CPUPerRequestUs     float64 `json:"cpu_per_request_us"`
	CPUPerRequestSpread Spread  `json:"cpu_per_request_spread"`
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux everywhere we run).
const clockTicks = 100

// cpuSeconds is the user and system CPU a process has used so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks, nil
}

// resetPeakRSS starts a new peak resident memory measurement (Linux: clear_refs 5).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakRSSMiB is the highest resident memory since the last reset.
func peakRSSMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

// accounting starts measuring each process's CPU and peak memory, and returns what records
// them into a result.
func accounting(processes map[string]int) func(*Result) {
	before := map[string]float64{}
	for name, pid := range processes {
		before[name], _ = cpuSeconds(pid)
		resetPeakRSS(pid)
	}
	return func(r *Result) {
		for name, pid := range processes {
			after, _ := cpuSeconds(pid)
			rss, _ := peakRSSMiB(pid)
			r.Processes = append(r.Processes, ProcessUse{Name: name, CPUSeconds: after - before[name], PeakRSSMiB: rss})
		}
		slices.SortFunc(r.Processes, func(a, b ProcessUse) int { return strings.Compare(a.Name, b.Name) })
	}
}
