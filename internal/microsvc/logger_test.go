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
	tests := []struct{ line, want string }{
		{lines[0], "level=error listen tcp 127.0.0.1:8080: bind: address already in use"},
		{lines[1], "level=warn service=api slow"},
	}
	if len(lines) != len(tests) {
		t.Fatalf("want %d lines, got %q", len(tests), out.String())
	}
	for _, tt := range tests {
		if !strings.HasSuffix(tt.line, tt.want) {
			t.Errorf("line %q, want it to end with %q", tt.line, tt.want)
		}
	}
}
