// Command bench measures what the authenticated path costs here: POST /greeter/hello through the
// gateway, greeter and user service (`make bench`), next to two baselines started and measured
// the same way on the same machine: a net/http handler answering the same JSON (the machine's
// ceiling) and a bare chain of the same hops without a framework, HTTP → JWT → grpc-go →
// grpc-go → in-memory user (the architecture's ceiling). It also runs the micro benchmarks and
// checks the targets. Results: a table on stdout, bench/results/*.json and BENCHMARKS.md.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "serve-") {
		if err := serve(os.Args[1], os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serve runs one baseline process.
func serve(what string, args []string) error {
	switch what {
	case "serve-nethttp":
		return serveNetHTTP(args[0])
	case "serve-bare-user":
		return serveBareUser(args[0])
	case "serve-bare-greeter":
		return serveBareGreeter(args[0], args[1])
	case "serve-bare-front":
		return serveBareFront(args[0], args[1], os.Getenv("JWT_SECRET"))
	case "serve-micro-user":
		return serveMicroUser(args[0])
	case "serve-micro-greeter":
		return serveMicroGreeter(args[0], args[1])
	case "serve-micro-front":
		return serveMicroFront(args[0], args[1], os.Getenv("JWT_SECRET"))
	}
	return fmt.Errorf("unknown %s", what)
}

// Report is everything one run measured.
type Report struct {
	Date      string              `json:"date"`
	Machine   Machine             `json:"machine"`
	Command   string              `json:"command"`
	WarmupS   float64             `json:"warmup_s"`
	DurationS float64             `json:"duration_s"`
	ReadyS    float64             `json:"ready_s"`
	Rounds    int                 `json:"rounds"`
	Targets   map[string][]Result `json:"targets"`
	// RoundResults are every round's results, by target, round and level; Targets are their
	// medians.
	RoundResults map[string][][]Result `json:"round_results"`
	Overload     []OverloadResult      `json:"overload,omitempty"`
	Tracing      []TracingResult       `json:"tracing,omitempty"`
	Micro        []MicroResult         `json:"micro"`
	TargetsHeld  []Check               `json:"checks"`
}

func run() error {
	levels := flag.String("levels", "1,16,64,256", "connection counts")
	warmup := flag.Duration("warmup", 5*time.Second, "warm-up before each level")
	duration := flag.Duration("duration", 20*time.Second, "measured time of each level")
	results := flag.String("results", "bench/results", "folder for the JSON results")
	markdown := flag.String("markdown", "BENCHMARKS.md", "file the report is written to (empty: none)")
	micro := flag.Bool("micro", true, "run the micro benchmarks too")
	profileDir := flag.String("pprof", "", "folder for CPU and allocation profiles of gateway, greeter and user, taken during ours at 64 connections (empty: none)")
	overload := flag.Int("overload", 1024, "connections of the overload level, measured on ours with the load shedder off and on (0: none)")
	tracingRatios := flag.String("tracing", "off,1,0.01", "sampling ratios of the tracing level (ours at 64 connections with Jaeger; off: no collector); empty: none")
	only := flag.String("targets", strings.Join(Targets, ","), "the targets to measure, in this order (each round starts one further on)")
	rounds := flag.Int("rounds", 3, "rounds: every target is measured once a round, the order rotated; the figures are the medians")
	flag.Parse()
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
	}
	var targets []string
	for _, t := range strings.Split(*only, ",") {
		if t = strings.TrimSpace(t); !slices.Contains(Targets, t) {
			return fmt.Errorf("-targets: %q is none of %s", t, strings.Join(Targets, ", "))
		}
		targets = append(targets, t)
	}
	var conns []int
	for _, l := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || n < 1 {
			return fmt.Errorf("-levels: %q is not a connection count", l)
		}
		conns = append(conns, n)
	}

	tmp, err := os.MkdirTemp("", "gomicro-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Println("building the services ...")
	build := exec.Command("go", "build", "-o", tmp+"/", "./service/configserver", "./service/user", "./service/greeter", "./gateway")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	// The go-zero peer is a module of its own (bench/peers/gozero), built with its own go.mod.
	buildPeer := exec.Command("go", "build", "-o", filepath.Join(tmp, "gozeropeer"), ".")
	buildPeer.Dir = filepath.Join("bench", "peers", "gozero")
	buildPeer.Stdout, buildPeer.Stderr = os.Stderr, os.Stderr
	if err := buildPeer.Run(); err != nil {
		return fmt.Errorf("build the go-zero peer: %w", err)
	}
	secret := randomHex(32)
	report := Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: describeMachine(), WarmupS: warmup.Seconds(),
		DurationS: duration.Seconds(), Command: strings.TrimSpace("go run ./bench " + strings.Join(os.Args[1:], " ")),
		Rounds: *rounds, Targets: map[string][]Result{}, RoundResults: map[string][][]Result{}}

	round := 0
	level := func(name, url, token string, pids map[string]int, profiles map[string]string) {
		var results []Result
		for _, c := range conns {
			window := func() func(*Result) {
				end := accounting(pids)
				// Profiles cost CPU: only the first round takes them.
				if c != 64 || len(profiles) == 0 || round > 0 {
					return end
				}
				done := profile(*profileDir, profiles, *duration)
				return func(r *Result) { end(r); done() }
			}
			r := drive(url, token, c, *warmup, *duration, false, window)
			fmt.Printf("  %-14s %4d connections: %8.0f ok req/s  p50 %6.2f ms  p99 %6.2f ms  CPU %5.0f µs per answer  errors %d\n", name, c, r.OKRPS, r.P50Ms, r.P99Ms, r.CPUPerRequestUs, r.Errors)
			results = append(results, r)
		}
		report.RoundResults[name] = append(report.RoundResults[name], results)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	keys, err := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: secret, Issuer: "gomicro-stack"}, TTL: time.Hour})
	if err != nil {
		return err
	}
	issued, err := keys.Issue(auth.Identity{UserID: 1, Username: "bench"})
	if err != nil {
		return err
	}
	peerToken, err := goZeroToken(secret)
	if err != nil {
		return err
	}
	goZeroPeer := func(target, shedding string) func() error {
		return func() error {
			commands := [][]string{{"user", "-listen", "$user", "-shedding=" + shedding},
				{"greeter", "-listen", "$greeter", "-user", "$user", "-shedding=" + shedding},
				{"front", "-listen", "$front", "-greeter", "$greeter", "-shedding=" + shedding}}
			return withProcesses(filepath.Join(tmp, "gozeropeer"), commands, secret, peerToken, func(url string, pids map[string]int) {
				level(target, url, peerToken, pids, nil)
			})
		}
	}
	measure := map[string]func() error{
		"net/http": func() error {
			return withProcesses(self, [][]string{{"serve-nethttp", "$front"}}, secret, "", func(url string, pids map[string]int) {
				level("net/http", url, "", pids, nil)
			})
		},
		"bare": func() error {
			bare := [][]string{{"serve-bare-user", "$user"}, {"serve-bare-greeter", "$greeter", "$user"}, {"serve-bare-front", "$front", "$greeter"}}
			return withProcesses(self, bare, secret, issued.Token, func(url string, pids map[string]int) {
				level("bare", url, issued.Token, pids, nil)
			})
		},
		GoMicroFloor: func() error {
			floor := [][]string{{"serve-micro-user", "$user"}, {"serve-micro-greeter", "$greeter", "$user"}, {"serve-micro-front", "$front", "$greeter"}}
			return withProcesses(self, floor, secret, issued.Token, func(url string, pids map[string]int) {
				level(GoMicroFloor, url, issued.Token, pids, nil)
			})
		},
		GoZero:           goZeroPeer(GoZero, "true"),
		GoZeroNoShedding: goZeroPeer(GoZeroNoShedding, "false"),
		"ours": func() error {
			env := strings.Fields(os.Getenv("BENCH_SERVICE_ENV"))
			err := withStack(tmp, secret, *profileDir != "", env, func(s *stack.Stack, token string, ready time.Duration) {
				report.ReadyS = ready.Seconds()
				var profiles map[string]string
				if *profileDir != "" {
					// MetricsURLs: the users, the greeters, then the gateway.
					base := func(u string) string { return strings.TrimSuffix(u, "/metrics") }
					profiles = map[string]string{"user": base(s.MetricsURLs[0]), "greeter": base(s.MetricsURLs[len(s.Users)]),
						"gateway": base(s.MetricsURLs[len(s.MetricsURLs)-1])}
				}
				level("ours", s.GatewayURL+"/greeter/hello", token, pidsOf(s), profiles)
			})
			return err
		},
	}
	for round = 0; round < *rounds; round++ {
		for _, target := range rotated(targets, round) {
			fmt.Printf("round %d of %d: %s ...\n", round+1, *rounds, target)
			if err := measure[target](); err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
		}
	}
	for target, results := range report.RoundResults {
		for _, level := range byLevel(results) {
			report.Targets[target] = append(report.Targets[target], medianOf(level))
		}
	}
	// Tracing and overload are about ours alone: measured once, after the rounds.
	if slices.Contains(targets, "ours") {
		if err := func() error {
			env := strings.Fields(os.Getenv("BENCH_SERVICE_ENV"))
			if err := tracingLevel(tmp, secret, env, *tracingRatios, *warmup, *duration, &report); err != nil {
				return err
			}
			if *overload == 0 {
				return nil
			}
			// The overload level, with the gateway's load shedder off, then on; clients honour
			// Retry-After.
			for _, shedding := range []bool{false, true} {
				err := withStack(tmp, secret, false, append(env, "SHEDDING_ENABLED="+strconv.FormatBool(shedding)), func(s *stack.Stack, token string, _ time.Duration) {
					pids := pidsOf(s)
					r := drive(s.GatewayURL+"/greeter/hello", token, *overload, *warmup, *duration, true, func() func(*Result) { return accounting(pids) })
					fmt.Printf("  %-10s %4d connections, shedding %-5v: %8.0f ok req/s  ok p99 %6.2f ms  refused %d\n", "ours", *overload, shedding, r.OKRPS, r.OKP99Ms, r.Errors)
					report.Overload = append(report.Overload, OverloadResult{Shedding: shedding, Result: r})
				})
				if err != nil {
					return err
				}
			}
			return nil
		}(); err != nil {
			return fmt.Errorf("ours: %w", err)
		}
	}

	for i := range report.Targets["ours"] {
		ours := &report.Targets["ours"][i]
		ratio := func(target string) float64 {
			if other := report.Targets[target]; i < len(other) && other[i].OKRPS > 0 {
				return ours.OKRPS / other[i].OKRPS
			}
			return 0
		}
		ours.RatioToBareChain, ours.RatioToNetHTTP = ratio("bare"), ratio("net/http")
		ours.RatioToGoZero, ours.RatioToGoZeroDefaults = ratio(GoZeroNoShedding), ratio(GoZero)
	}
	if *micro {
		fmt.Println("micro benchmarks ...")
		if report.Micro, err = runMicro(); err != nil {
			return err
		}
	}
	report.TargetsHeld = checkTargets(report)
	table := render(report)
	fmt.Print("\n" + table)
	if err := os.MkdirAll(*results, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(report, "", "  ")
	name := filepath.Join(*results, time.Now().UTC().Format("2006-01-02T150405Z")+".json")
	if err := os.WriteFile(name, append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Println("results:", name)
	if *markdown != "" {
		if err := os.WriteFile(*markdown, []byte(markdownReport(report, table)), 0o644); err != nil {
			return err
		}
		fmt.Println("report:", *markdown)
	}
	return nil
}

// The go-zero peer's two targets: its defaults, and with its adaptive load shedding off
// (CpuThreshold 0 on every server, the rest Shedding middleware off).
const (
	GoZero           = "go-zero"
	GoZeroNoShedding = "go-zero-noshed"
)

// goZeroToken is a token for the go-zero peer: HS256 with the secret ours uses and the same
// claims, plus the user id as a claim of its own ("uid"), since go-zero's rest.WithJwt puts
// only unregistered claims in the request's context.
func goZeroToken(secret string) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"uid": 1, "name": "bench", "sub": "1", "iss": "gomicro-stack", "jti": randomHex(16),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
}

// withProcesses starts exe once per command (args with $front, $greeter, $user replaced by
// free addresses, the last command's name as the process's), waits until the front answers,
// calls measure, and stops them.
func withProcesses(exe string, commands [][]string, secret, token string, measure func(url string, pids map[string]int)) error {
	addresses := map[string]string{}
	for _, role := range []string{"$front", "$greeter", "$user"} {
		port, err := stack.FreePort()
		if err != nil {
			return err
		}
		addresses[role] = "127.0.0.1:" + strconv.Itoa(port)
	}
	pids := map[string]int{}
	var started []*exec.Cmd
	defer func() {
		for _, c := range started {
			c.Process.Kill()
			c.Wait()
		}
	}()
	for _, command := range commands {
		args := make([]string, len(command))
		for i, a := range command {
			if v, ok := addresses[a]; ok {
				a = v
			}
			args[i] = a
		}
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), "JWT_SECRET="+secret)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		started = append(started, cmd)
		pids[strings.TrimPrefix(command[0], "serve-")] = cmd.Process.Pid
	}
	url := "http://" + addresses["$front"] + "/greeter/hello"
	if err := stack.Eventually(10*time.Second, 20*time.Millisecond, func() error {
		probe, _ := http.NewRequest("POST", url, strings.NewReader(`{"name":"bench"}`))
		probe.Header.Set("Content-Type", "application/json")
		probe.Header.Set("Authorization", "Bearer "+token)
		rsp, err := http.DefaultClient.Do(probe)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		return nil
	}); err != nil {
		return fmt.Errorf("baseline %v did not start: %w", commands, err)
	}
	measure(url, pids)
	return nil
}

// OverloadResult is the overload level with the gateway's load shedder off or on.
type OverloadResult struct {
	Shedding bool `json:"shedding"`
	Result
}

// TracingResult is ours at 64 connections with tracing off (no collector) or sampling a share
// of the requests into Jaeger.
type TracingResult struct {
	Sampling string `json:"sampling"`
	// SpansExported and SpansDropped are the binaries' counters after the level.
	SpansExported float64 `json:"spans_exported"`
	SpansDropped  float64 `json:"spans_dropped"`
	Result
}

// tracingLevel measures ours at 64 connections once per ratio of ratios ("off": the binaries
// export nothing), each on a stack of its own with Jaeger beside it; Jaeger's CPU is counted
// among the processes.
func tracingLevel(binDir, secret string, env []string, ratios string, warmup, duration time.Duration, report *Report) error {
	for _, ratio := range strings.Split(ratios, ",") {
		if ratio = strings.TrimSpace(ratio); ratio == "" {
			continue
		}
		tracing := stack.Tracing{}
		if ratio != "off" {
			r, err := strconv.ParseFloat(ratio, 64)
			if err != nil || r <= 0 || r > 1 {
				return fmt.Errorf("-tracing: %q is neither off nor a ratio in (0, 1]", ratio)
			}
			if tracing.JaegerBin = stack.FindJaeger("."); tracing.JaegerBin == "" {
				return errors.New("-tracing: no jaeger executable (make jaeger)")
			}
			tracing.JaegerConfig, tracing.SamplingRatio = "deploy/jaeger/config.yaml", r
		}
		err := withTracedStack(binDir, secret, tracing, env, func(s *stack.Stack, token string) {
			pids := pidsOf(s)
			if s.Jaeger != nil {
				pids["jaeger"] = s.Jaeger.PID()
			}
			r := drive(s.GatewayURL+"/greeter/hello", token, 64, warmup, duration, false, func() func(*Result) { return accounting(pids) })
			client := &http.Client{Timeout: 5 * time.Second}
			exported, _ := stack.MetricSum(client, s.MetricsURLs, "gomicro_tracing_spans_exported_total")
			dropped, _ := stack.MetricSum(client, s.MetricsURLs, "gomicro_tracing_spans_dropped_total")
			fmt.Printf("  %-10s   64 connections, tracing %-5s: %8.0f ok req/s  p99 %6.2f ms  spans exported %.0f, dropped %.0f\n", "ours", ratio, r.OKRPS, r.P99Ms, exported, dropped)
			report.Tracing = append(report.Tracing, TracingResult{Sampling: ratio, SpansExported: exported, SpansDropped: dropped, Result: r})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// withStack starts the system (startStack), signs up the benchmark's user, calls measure with
// its token and how long the start took, and stops the system.
func withStack(binDir, secret string, pprof bool, env []string, measure func(s *stack.Stack, token string, ready time.Duration)) error {
	s, ready, err := startStack(binDir, secret, pprof, stack.Tracing{}, env...)
	if err != nil {
		return err
	}
	return measureStack(s, func(s *stack.Stack, token string) { measure(s, token, ready) })
}

// withTracedStack is withStack with tracing as t says.
func withTracedStack(binDir, secret string, t stack.Tracing, env []string, measure func(s *stack.Stack, token string)) error {
	s, _, err := startStack(binDir, secret, false, t, env...)
	if err != nil {
		return err
	}
	return measureStack(s, measure)
}

// measureStack signs up the benchmark's user, calls measure with its token, and stops s.
func measureStack(s *stack.Stack, measure func(s *stack.Stack, token string)) error {
	defer func() {
		if err := s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop:", err)
		}
	}()
	token, err := signup(s.GatewayURL)
	if err != nil {
		return err
	}
	measure(s, token)
	return nil
}

func pidsOf(s *stack.Stack) map[string]int {
	return map[string]int{"gateway": s.Gateway.PID(), "greeter": s.Greeter.PID(), "user": s.User.PID()}
}

// startStack starts the system as make run does, with production settings (no access log),
// and returns how long it took to be ready.
func startStack(binDir, secret string, pprof bool, tracing stack.Tracing, extraEnv ...string) (*stack.Stack, time.Duration, error) {
	consul, err := stack.FindConsul(".")
	if err != nil {
		return nil, 0, err
	}
	ports := make([]int, 5)
	for i := range ports {
		if ports[i], err = stack.FreePort(); err != nil {
			return nil, 0, err
		}
	}
	began := time.Now()
	s, err := stack.Start(stack.Config{
		BinDir: binDir, ConsulBin: consul, JWTSecret: secret, Out: io.Discard,
		ConsulPorts:         stack.ConsulPorts{HTTP: ports[0], SerfLAN: ports[1], Server: ports[2]},
		GatewayAddress:      "127.0.0.1:" + strconv.Itoa(ports[3]),
		ConfigServerAddress: "127.0.0.1:" + strconv.Itoa(ports[4]),
		ConfigRepo:          "config-repo",
		DatabaseDSN:         filepath.Join(binDir, "user.db"),
		Tracing:             tracing,
		Env:                 append([]string{"PROFILE=prod", "METRICS_PPROF=" + strconv.FormatBool(pprof)}, extraEnv...),
	})
	return s, time.Since(began), err
}

// signup registers and logs in the benchmark's user, returning its token.
func signup(gateway string) (string, error) {
	creds := `{"username":"bench","password":"benchmark-password"}`
	post := func(path string) (map[string]any, error) {
		rsp, err := http.Post(gateway+path, "application/json", strings.NewReader(creds))
		if err != nil {
			return nil, err
		}
		defer rsp.Body.Close()
		var body map[string]any
		err = json.NewDecoder(rsp.Body).Decode(&body)
		return body, err
	}
	if _, err := post("/user/register"); err != nil {
		return "", err
	}
	body, err := post("/user/login")
	if err != nil {
		return "", err
	}
	token, _ := body["token"].(string)
	if token == "" {
		return "", fmt.Errorf("login answered %v", body)
	}
	return token, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// profile takes a CPU profile over most of the measured window and an allocation profile at
// its end from each process (name → base URL with /debug/pprof), into dir; the returned
// function waits for them.
func profile(dir string, processes map[string]string, window time.Duration) func() {
	os.MkdirAll(dir, 0o755)
	seconds := max(1, int(window.Seconds())-2)
	var wg sync.WaitGroup
	fetch := func(url, file string) {
		defer wg.Done()
		rsp, err := http.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer rsp.Body.Close()
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		io.Copy(f, rsp.Body)
		f.Close()
	}
	for name, base := range processes {
		wg.Add(1)
		go fetch(base+"/debug/pprof/profile?seconds="+strconv.Itoa(seconds), name+".cpu.pprof")
	}
	return func() {
		for name, base := range processes {
			wg.Add(1)
			go fetch(base+"/debug/pprof/allocs", name+".allocs.pprof")
		}
		wg.Wait()
	}
}
