package microsvc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/micro/go-micro/v2/logger"
)

func TestLogToWritesGoMicroLinesToTheWriter(t *testing.T) {
	previous := logger.DefaultLogger
	defer func() { logger.DefaultLogger = previous }()
	var out bytes.Buffer
	LogTo(&out)

	logger.Errorf("listen tcp %s: bind: address already in use", "127.0.0.1:8080")
	logger.Fields(map[string]interface{}{"service": "api"}).Log(logger.WarnLevel, "slow")
	logger.Debug("below the default level")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"level=error listen tcp 127.0.0.1:8080: bind: address already in use",
		"level=warn service=api slow",
	}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got %q", len(want), out.String())
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %q, want it to end with %q", lines[i], w)
		}
	}
}
