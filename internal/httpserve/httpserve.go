// Package httpserve serves the side ports of a binary (metrics, the breaker dashboard) until its
// context ends.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"
)

// Serve listens on address at once (so that a taken port fails the start, named by what) and
// serves handler in the background until ctx ends, when the server is closed: open
// connections too, since event streams never end by themselves. It returns the bound address.
func Serve(ctx context.Context, what, address string, handler http.Handler) (net.Addr, error) {
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		server.Close()
	}()
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("%s: %v", what, err)
		}
	}()
	return listener.Addr(), nil
}
