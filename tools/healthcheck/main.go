// Command healthcheck probes one address and exits 0 when it answers, 1 when not: the
// HEALTHCHECK of the service images, which have no shell, curl or wget.
//
//	healthcheck http://127.0.0.1:8080/health    a 2xx answer
//	healthcheck tcp://127.0.0.1:9090            a TCP connection (the gRPC services)
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const timeout = 2 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck http://host:port/path | tcp://host:port")
		os.Exit(2)
	}
	if err := probe(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		os.Exit(1)
	}
}

func probe(target string) error {
	if address, ok := strings.CutPrefix(target, "tcp://"); ok {
		conn, err := net.DialTimeout("tcp", address, timeout)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return fmt.Errorf("%q: want http://, https:// or tcp://", target)
	}
	rsp, err := (&http.Client{Timeout: timeout}).Get(target)
	if err != nil {
		return err
	}
	rsp.Body.Close()
	if rsp.StatusCode < 200 || rsp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", target, rsp.Status)
	}
	return nil
}
