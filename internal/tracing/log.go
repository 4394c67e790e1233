package tracing

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/gorilla/handlers"
	"github.com/micro/go-micro/v2/logger"
)

// Printf logs as log.Printf does, with "trace_id=…" at the end when ctx belongs to a trace.
func Printf(ctx context.Context, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if id := TraceID(ctx); id != "" {
		line += " trace_id=" + id
	}
	log.Output(2, line)
}

// Log is go-micro's logger for the request of ctx: its lines end with "trace_id=…" when ctx
// belongs to a trace. (go-micro's own Fields would not do: its default logger keeps the fields
// it is given for every later line of every goroutine.)
func Log(ctx context.Context) RequestLogger { return RequestLogger{traceID: TraceID(ctx)} }

// RequestLogger writes through go-micro's logger with a request's trace id.
type RequestLogger struct{ traceID string }

// Each method calls go-micro's logger itself: the file:line it prints is then its caller's.
func (l RequestLogger) Debugf(format string, args ...any) {
	if logger.V(logger.DebugLevel, logger.DefaultLogger) {
		logger.DefaultLogger.Log(logger.DebugLevel, l.line(format, args))
	}
}

func (l RequestLogger) Infof(format string, args ...any) {
	if logger.V(logger.InfoLevel, logger.DefaultLogger) {
		logger.DefaultLogger.Log(logger.InfoLevel, l.line(format, args))
	}
}

func (l RequestLogger) Warnf(format string, args ...any) {
	if logger.V(logger.WarnLevel, logger.DefaultLogger) {
		logger.DefaultLogger.Log(logger.WarnLevel, l.line(format, args))
	}
}

func (l RequestLogger) Errorf(format string, args ...any) {
	if logger.V(logger.ErrorLevel, logger.DefaultLogger) {
		logger.DefaultLogger.Log(logger.ErrorLevel, l.line(format, args))
	}
}

// line is the message with the trace id at its end.
func (l RequestLogger) line(format string, args []any) string {
	line := fmt.Sprintf(format, args...)
	if l.traceID != "" {
		line += " trace_id=" + l.traceID
	}
	return line
}

// AccessLine writes an access log line in the Combined Log Format with the request's trace id
// at the end (gorilla/handlers' CustomLoggingHandler). Quoted fields are Go-quoted, so that a
// caller's bytes cannot forge a line.
func AccessLine(w io.Writer, p handlers.LogFormatterParams) {
	r := p.Request
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	user := "-"
	if p.URL.User != nil && p.URL.User.Username() != "" {
		user = p.URL.User.Username()
	}
	traceID := TraceID(r.Context())
	if traceID == "" {
		traceID = "-"
	}
	fmt.Fprintf(w, "%s - %s [%s] %q %d %d %q %q trace_id=%s\n", host, user, p.TimeStamp.Format("02/Jan/2006:15:04:05 -0700"),
		r.Method+" "+r.RequestURI+" "+r.Proto, p.StatusCode, p.Size, r.Referer(), r.UserAgent(), traceID)
}
