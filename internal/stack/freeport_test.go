package stack

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePort: ports are free, never given twice, and below the kernel's ephemeral range, so
// that no listener bound to ":0" meanwhile can take one before the process it was meant for.
func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d given twice", port)
		}
		seen[port] = true
		if port < firstPort || port >= ephemeralLow() {
			t.Fatalf("port %d is not between %d and the ephemeral range at %d", port, firstPort, ephemeralLow())
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d is not free: %v", port, err)
		}
		l.Close()
	}
}
