package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// Machine says where the numbers come from.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if match := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); match != nil {
			m.CPU = string(match[1])
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if match := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindSubmatch(b); match != nil {
			kb, _ := strconv.ParseFloat(string(match[1]), 64)
			m.MemoryGiB = kb / 1024 / 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// MicroResult is one `go test -bench` line.
type MicroResult struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// microPackages hold the micro benchmarks: token verification, the auth layer, the revocation
// check, the edge's UTF-8 checks, the breaker wrapper, config merge, user lookup.
var microPackages = []string{"./internal/auth", "./gateway/jwtauth", "./gateway/revocation", "./gateway/edge", "./internal/breaker", "./internal/config", "./service/user/store"}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

func runMicro() ([]MicroResult, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "1s"}, microPackages...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("micro benchmarks: %v\n%s", err, out)
	}
	var results []MicroResult
	for _, line := range strings.Split(string(out), "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := MicroResult{Name: m[1]}
		r.NsPerOp, _ = strconv.ParseFloat(m[2], 64)
		r.BytesPerOp, _ = strconv.ParseFloat(m[3], 64)
		r.AllocsPerOp, _ = strconv.ParseFloat(m[4], 64)
		results = append(results, r)
	}
	return results, nil
}

// Check is one target and whether it held.
type Check struct {
	Target string `json:"target"`
	Held   bool   `json:"held"`
	Figure string `json:"figure"`
}

func checkTargets(r Report) []Check {
	var checks []Check
	add := func(target string, held bool, format string, args ...any) {
		checks = append(checks, Check{Target: target, Held: held, Figure: fmt.Sprintf(format, args...)})
	}
	at := func(target string, conns int) (Result, bool) {
		for _, x := range r.Targets[target] {
			if x.Connections == conns {
				return x, true
			}
		}
		return Result{}, false
	}
	// Against go-zero (shedding off) and the bare chain, on the medians of the rounds.
	cpuOf := func(x Result, name string) float64 {
		for _, p := range x.Processes {
			if p.Name == name {
				return p.CPUPerRequestUs
			}
		}
		return 0
	}
	for _, conns := range []int{16, 64} {
		ours, ok := at("ours", conns)
		if !ok {
			continue
		}
		if peer, ok := at(GoZeroNoShedding, conns); ok && peer.OKRPS > 0 {
			add(fmt.Sprintf("at %d connections, ok req/s ≥ 1.2× go-zero's (shedding off)", conns), ours.OKRPS >= 1.2*peer.OKRPS, "%.3f× (%.0f vs %.0f req/s)", roundDown(ours.OKRPS/peer.OKRPS, 3), ours.OKRPS, peer.OKRPS)
			add(fmt.Sprintf("at %d connections, CPU per answer (gateway + greeter + user) ≤ 0.8× go-zero's (shedding off)", conns), ours.CPUPerRequestUs <= 0.8*peer.CPUPerRequestUs,
				"%.2f× (%.0f vs %.0f µs)", -roundDown(-ours.CPUPerRequestUs/peer.CPUPerRequestUs, 2), ours.CPUPerRequestUs, peer.CPUPerRequestUs)
		}
		if bare, ok := at("bare", conns); ok {
			floor, measured := at(GoMicroFloor, conns)
			for _, hop := range []string{"greeter", "user"} {
				o, b := cpuOf(ours, hop), cpuOf(bare, "bare-"+hop)
				if b > 0 {
					// go-micro's own share: the same hop on go-micro with nothing of ours.
					var within string
					if f := cpuOf(floor, "micro-"+hop); measured && f > 0 {
						within = fmt.Sprintf("; go-micro's floor %.0f µs, %.2f× bare", f, f/b)
					}
					add(fmt.Sprintf("at %d connections, the %s's CPU per answer ≤ 1.6× the bare %s's", conns, hop, hop), o <= 1.6*b, "%.2f× (%.0f vs %.0f µs%s)", -roundDown(-o/b, 2), o, b, within)
				}
			}
		}
	}
	if ours, ok := at("ours", 64); ok {
		if peer, ok := at(GoZeroNoShedding, 64); ok && peer.OKRPS > 0 {
			add("at 64 connections, p99 ≤ go-zero's (shedding off)", ours.P99Ms <= peer.P99Ms, "%.2f ms vs %.2f ms", ours.P99Ms, peer.P99Ms)
		}
		if bare, ok := at("bare", 64); ok && bare.OKRPS > 0 {
			add("at 64 connections, ok req/s ≥ 60% of the bare chain", ours.OKRPS >= 0.6*bare.OKRPS, "%.1f%% (%.0f vs %.0f req/s)", roundDown(100*ours.OKRPS/bare.OKRPS, 1), ours.OKRPS, bare.OKRPS)
			add("at 64 connections, p99 ≤ 1.6× the bare chain's", ours.P99Ms <= 1.6*bare.P99Ms, "%.2f ms vs %.2f ms (%.2f×)", ours.P99Ms, bare.P99Ms, -roundDown(-ours.P99Ms/bare.P99Ms, 2))
		}
		for _, p := range ours.Processes {
			add("≤ 40 MiB RSS under 64 connections: "+p.Name, p.PeakRSSMiB <= 40, "%.1f MiB", p.PeakRSSMiB)
		}
	}
	errors := 0
	for _, x := range r.Targets["ours"] {
		errors += x.Errors
	}
	add("zero errors at every level", errors == 0 && len(r.Targets["ours"]) > 0, "%d errors", errors)
	for _, m := range r.Micro {
		switch {
		case m.Name == "BenchmarkBreakerWrapper":
			add("breaker wrapper ≤ 3 µs and ≤ 10 allocations per call", m.NsPerOp <= 3000 && m.AllocsPerOp <= 10, "%.2f µs, %.0f allocs", m.NsPerOp/1000, m.AllocsPerOp)
		case strings.HasPrefix(m.Name, "BenchmarkMalformed"):
			add("edge UTF-8 checks ≤ 1 µs and no allocation per request", m.NsPerOp <= 1000 && m.AllocsPerOp == 0, "%.0f ns, %.0f allocs", m.NsPerOp, m.AllocsPerOp)
		case m.Name == "BenchmarkVerify":
			add("token verification ≤ 20 µs", m.NsPerOp <= 20000, "%.2f µs", m.NsPerOp/1000)
		case strings.HasPrefix(m.Name, "BenchmarkRevoked"):
			add("revocation check (100,000 revoked) ≤ 1 µs and no allocation per request", m.NsPerOp <= 1000 && m.AllocsPerOp == 0, "%.0f ns, %.0f allocs", m.NsPerOp, m.AllocsPerOp)
		}
	}
	if r.ReadyS > 0 {
		add("start to ready ≤ 5 s (built)", r.ReadyS <= 5, "%.2f s", r.ReadyS)
	}
	return checks
}

// Targets is every target, in the order they are measured and reported.
var Targets = []string{"net/http", "bare", GoMicroFloor, GoZero, GoZeroNoShedding, "ours"}

// GoMicroFloor is the bare chain with go-micro's server for the greeter and the user service
// (floor.go): what go-micro alone costs on the path.
const GoMicroFloor = "go-micro-floor"

func render(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| target | connections | ok req/s | p50 ms | p99 ms | errors | ours / bare | ours / go-zero-noshed | ours / go-zero | CPU µs per answer | CPU µs per answer, per process | peak RSS MiB |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	// spread writes a median with its rounds' lowest and highest.
	spread := func(format string, v float64, s Spread) string {
		if s.Min == s.Max {
			return fmt.Sprintf(format, v)
		}
		return fmt.Sprintf(format+" ("+format+"–"+format+")", v, s.Min, s.Max)
	}
	ratio := func(v float64) string {
		if v == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f", v)
	}
	for _, target := range []string{"ours", GoZeroNoShedding, GoZero, GoMicroFloor, "bare", "net/http"} {
		for _, x := range r.Targets[target] {
			var cpu, rss []string
			for _, p := range x.Processes {
				cpu = append(cpu, p.Name+" "+spread("%.0f", p.CPUPerRequestUs, p.CPUPerRequestSpread))
				rss = append(rss, fmt.Sprintf("%s %.1f", p.Name, p.PeakRSSMiB))
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %s | %d | %s | %s | %s | %s | %s | %s |\n", target, x.Connections,
				spread("%.0f", x.OKRPS, x.OKRPSSpread), x.P50Ms, spread("%.2f", x.P99Ms, x.P99Spread), x.Errors,
				ratio(x.RatioToBareChain), ratio(x.RatioToGoZero), ratio(x.RatioToGoZeroDefaults),
				spread("%.0f", x.CPUPerRequestUs, x.CPUPerRequestSpread), strings.Join(cpu, ", "), strings.Join(rss, ", "))
		}
	}
	if len(r.Overload) > 0 {
		fmt.Fprintf(&b, "\n| ours overloaded | connections | ok req/s | ok p99 ms | refused (503) | p99 ms of all answers | CPU s (per process) |\n|---|---:|---:|---:|---:|---:|---|\n")
		for _, o := range r.Overload {
			state := "shedding off"
			if o.Shedding {
				state = "shedding on"
			}
			var cpu []string
			for _, p := range o.Processes {
				cpu = append(cpu, fmt.Sprintf("%s %.1f", p.Name, p.CPUSeconds))
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %d | %.2f | %s |\n", state, o.Connections, o.OKRPS, o.OKP99Ms, o.Errors, o.P99Ms, strings.Join(cpu, ", "))
		}
	}
	if len(r.Tracing) > 0 {
		fmt.Fprintf(&b, "\n| ours, tracing | connections | ok req/s | vs off | p50 ms | p99 ms | spans exported | spans dropped | CPU s (per process) |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
		off := 0.0
		for _, t := range r.Tracing {
			if t.Sampling == "off" {
				off = t.OKRPS
			}
		}
		for _, t := range r.Tracing {
			vs := "-"
			if off > 0 {
				vs = fmt.Sprintf("%.2f", t.OKRPS/off)
			}
			var cpu []string
			for _, p := range t.Processes {
				cpu = append(cpu, fmt.Sprintf("%s %.1f", p.Name, p.CPUSeconds))
			}
			fmt.Fprintf(&b, "| sampling %s | %d | %.0f | %s | %.2f | %.2f | %.0f | %.0f | %s |\n", t.Sampling, t.Connections, t.OKRPS, vs, t.P50Ms, t.P99Ms,
				t.SpansExported, t.SpansDropped, strings.Join(cpu, ", "))
		}
	}
	if len(r.Micro) > 0 {
		fmt.Fprintf(&b, "\n| micro benchmark | ns/op | B/op | allocs/op |\n|---|---:|---:|---:|\n")
		for _, m := range r.Micro {
			fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f |\n", m.Name, m.NsPerOp, m.BytesPerOp, m.AllocsPerOp)
		}
	}
	fmt.Fprintf(&b, "\n| target | held | figure |\n|---|---|---|\n")
	for _, c := range r.TargetsHeld {
		held := "yes"
		if !c.Held {
			held = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Target, held, c.Figure)
	}
	return b.String()
}

func markdownReport(r Report, table string) string {
	return fmt.Sprintf(`# Benchmarks

The latest `+"`make bench`"+` run, written by `+"`bench/`"+` itself (see bench/README.md for what it does
and how to profile). Every target runs on the same machine, one after the other, with the load
generator in the same machine too: the numbers compare the targets with each other, not with
another machine.

- Date: %s
- Machine: %s, %d cores, %.0f GiB, Linux %s, %s
- Command: `+"`%s`"+`
- Each level: %.0f s warm-up, then %.0f s measured; keep-alive connections, each sending the next
  request when the answer arrives. Request: `+"`POST /greeter/hello`"+` with a valid token.
- Rounds: %d. Each round measures every target once, the order rotated one place a round (so each
  runs first, in the middle and last); every figure of the first table is the median of the
  rounds, with their lowest and highest in brackets; a target holds only on the medians. CPU µs
  per answer: the CPU the target's processes spent in the measured window (`+"`/proc/<pid>/stat`"+`)
  per full answer (200, not degraded), per process and summed.
- Targets: **ours** is gateway → greeter → user (SQLite) as `+"`make run`"+` starts it, with the prod
  profile; **bare** is the same hops with no framework (net/http + JWT → grpc-go → grpc-go →
  in-memory user); **net/http** is one handler answering the same JSON; **go-zero** is the same
  hello built on go-zero v1.9.2 (`+"`bench/peers/gozero`"+`: rest with `+"`rest.WithJwt`"+`, two zrpc
  services with direct endpoints, every setting its default), **go-zero-noshed** the same with
  its adaptive load shedding off (`+"`CpuThreshold: 0`"+` on every server, rest `+"`Shedding`"+` middleware
  off). Ratios compare full answers per second (ok req/s: 200 and not degraded).
- Overload level: ours only, with the gateway's load shedder (`+"`shedding.enabled`"+`) off and on;
  its clients wait as `+"`Retry-After`"+` says after a 503.
- Tracing level: ours at 64 connections on a stack of its own per setting: tracing off (no
  collector: trace ids are still made), and sampling 1.0 and 0.01 into Jaeger (v1.75.0, memory
  storage) running on the same machine, its CPU counted.
- Start to ready (Consul, config server, user, greeter, gateway, built): %.2f s.

%s`, r.Date, r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryGiB, r.Machine.Kernel, r.Machine.Go, r.Command,
		r.WarmupS, r.DurationS, r.Rounds, r.ReadyS, table)
}

// roundDown cuts x to the given decimals toward minus infinity, so a ratio that misses its
// target by a hair is not printed as the target itself ("1.20×, no").
func roundDown(x float64, decimals int) float64 {
	scale := math.Pow(10, float64(decimals))
	return math.Floor(x*scale) / scale
}
