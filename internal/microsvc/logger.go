package microsvc

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/micro/go-micro/v2/logger"
)

// LogTo makes go-micro's logger, and through it micro's own (the api command's fatal errors
// such as "address already in use"), write to out. go-micro's default logger prints to stdout
// whatever its Out option says, so a binary that silences stdout (the gateway drops micro's
// access log that way) would otherwise die without a word.
func LogTo(out io.Writer) {
	logger.DefaultLogger = logger.NewHelper(writerLogger{Logger: logger.NewLogger(), out: out})
}

// writerLogger is go-micro's default logger with its lines written to out.
type writerLogger struct {
	logger.Logger
	out io.Writer
}

func (l writerLogger) Fields(fields map[string]interface{}) logger.Logger {
	return writerLogger{Logger: l.Logger.Fields(fields), out: l.out}
}

func (l writerLogger) Log(level logger.Level, v ...interface{}) {
	l.write(level, fmt.Sprint(v...))
}

func (l writerLogger) Logf(level logger.Level, format string, v ...interface{}) {
	l.write(level, fmt.Sprintf(format, v...))
}

// write formats a line as go-micro does: time, sorted fields with the level, message.
func (l writerLogger) write(level logger.Level, message string) {
	opts := l.Options()
	if !opts.Level.Enabled(level) {
		return
	}
	fields := []string{"level=" + level.String()}
	for k, v := range opts.Fields {
		fields = append(fields, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(fields)
	fmt.Fprintf(l.out, "%s %s %s\n", time.Now().Format("2006-01-02 15:04:05"), strings.Join(fields, " "), message)
}

var _ logger.Logger = writerLogger{}
