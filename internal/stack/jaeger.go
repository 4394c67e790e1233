package stack

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Tracing says whether and where the stack's spans go.
type Tracing struct {
	// JaegerBin is the jaeger executable (v2, all in one); empty: no Jaeger is started and the
	// spans are not exported, unless Env sets TRACING_ENDPOINT.
	JaegerBin string
	// JaegerConfig is Jaeger's config file (deploy/jaeger/config.yaml).
	JaegerConfig string
	// UIPort is the port of Jaeger's UI and query API on 127.0.0.1 (0: a free port);
	// OTLPPort the one it takes spans on over OTLP/HTTP (0: a free port).
	UIPort, OTLPPort int
	// UIAssets is a folder of built Jaeger UI assets (a jaeger-ui build); empty: the binary's
	// own, which a build from the module proxy lacks (its UI is a placeholder page).
	UIAssets string
	// SamplingRatio is tracing.sampling_ratio of every binary (0: their default, 1).
	SamplingRatio float64
}

// StartJaeger starts the stack's Jaeger (again, on the same ports, after a test killed it) and
// waits until its query API answers. Traces it held before are gone: it keeps them in memory.
func (s *Stack) StartJaeger() error {
	t := s.Tracing
	env := []string{
		"JAEGER_QUERY_HTTP=" + s.jaegerUI, "JAEGER_OTLP_HTTP=" + s.TracingEndpoint,
		"JAEGER_QUERY_GRPC=" + s.jaegerPorts[0], "JAEGER_HEALTH=" + s.jaegerPorts[1],
		"JAEGER_UI_ASSETS=" + t.UIAssets,
	}
	var err error
	if s.Jaeger, err = startProcess("jaeger", s.out, t.JaegerBin, []string{"--config", "file:" + t.JaegerConfig}, env); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	return s.Jaeger.WaitReady(20*time.Second, func() error { return AnswersOK(client, s.JaegerURL+"/api/services") })
}

// startTracing picks Jaeger's ports and starts it, when the stack has one.
func (s *Stack) startTracing() error {
	t := s.Tracing
	if t.JaegerBin == "" {
		return nil
	}
	ui, err := portAfter(t.UIPort, 0)
	if err != nil {
		return err
	}
	otlp, err := portAfter(t.OTLPPort, 0)
	if err != nil {
		return err
	}
	for i := range s.jaegerPorts {
		if s.jaegerPorts[i], err = portAfter(0, 0); err != nil {
			return err
		}
	}
	s.jaegerUI, s.TracingEndpoint, s.JaegerURL = ui, otlp, "http://"+ui
	return s.StartJaeger()
}

// tracingEnv are the tracing settings of every binary.
func (s *Stack) tracingEnv() []string {
	var env []string
	if s.TracingEndpoint != "" {
		env = append(env, "TRACING_ENDPOINT="+s.TracingEndpoint)
	}
	if r := s.Tracing.SamplingRatio; r != 0 {
		env = append(env, "TRACING_SAMPLING_RATIO="+strconv.FormatFloat(r, 'g', -1, 64))
	}
	return env
}

// FindJaeger returns a jaeger executable: JAEGER_BIN, then one on PATH, then bin/jaeger under
// repoRoot; empty when there is none.
func FindJaeger(repoRoot string) string {
	if p := os.Getenv("JAEGER_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("jaeger"); err == nil {
		return p
	}
	p := filepath.Join(repoRoot, "bin", "jaeger")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
