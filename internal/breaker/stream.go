package breaker

import (
	"context"
	"embed"
	"io/fs"
	"log"
	"net/http"

	"github.com/gomicro-stack/gomicro-stack/internal/httpserve"
	"github.com/gomicro-stack/gomicro-stack/internal/metrics"
)

//go:embed dashboard
var dashboard embed.FS

// StreamHandler serves the breakers of this process: GET /hystrix.stream in the Hystrix SSE
// format, every field Netflix's stream writes (what the Netflix Hystrix Dashboard and Turbine
// read; see events.go), GET / our own live dashboard over that stream, with no asset from
// outside the binary, and GET /health.
//
// It also serves /metrics, and /debug/pprof/ with pprof.
func StreamHandler(pprof bool) (handler http.Handler, stop func()) {
	stream := newStreamHandler()
	page, err := fs.Sub(dashboard, "dashboard")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	mux := http.NewServeMux()
	mux.Handle("GET /hystrix.stream", stream)
	// For container and Kubernetes probes: the process serves.
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"UP"}` + "\n"))
	})
	mux.Handle("GET /", http.FileServerFS(page))
	metrics.Mount(mux, pprof)
	return mux, stream.Stop
}

// ServeStream serves StreamHandler on address until ctx ends. An empty address serves nothing.
func ServeStream(ctx context.Context, address string, pprof bool) error {
	if address == "" {
		return nil
	}
	handler, stop := StreamHandler(pprof)
	bound, err := httpserve.Serve(ctx, "breaker stream", address, handler)
	if err != nil {
		stop()
		return err
	}
	go func() {
		<-ctx.Done()
		stop()
	}()
	log.Printf("breaker dashboard on http://%s/ (stream: /hystrix.stream)", bound)
	return nil
}
