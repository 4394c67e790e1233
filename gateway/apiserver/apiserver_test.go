package apiserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 8192, MaxConnections: 10}
	if err := ok.Validate(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]func(*Config){
		"write timeout below the call": func(c *Config) { c.WriteTimeout = 5 * time.Second },
		"no header timeout":            func(c *Config) { c.ReadHeaderTimeout = 0 },
		"tiny header limit":            func(c *Config) { c.MaxHeaderBytes = 100 },
		"no connections":               func(c *Config) { c.MaxConnections = 0 },
	} {
		c := ok
		broken(&c)
		if c.Validate(5*time.Second) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestConnectionCap: with one connection allowed, a second waits until the first closes.
func TestConnectionCap(t *testing.T) {
	c := Config{Address: "127.0.0.1:0", ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 4096, MaxConnections: 1}
	s, err := Listen(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Stop(time.Second) })
	request := func(conn net.Conn) error {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		rsp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			rsp.Body.Close()
		}
		return err
	}
	first, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := request(first); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second, err := net.Dial("tcp", s.Addr().String()) // accepted by the kernel, not by the server
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := request(second); err == nil {
		t.Fatal("a second connection was served while the first, at the cap, was open")
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	rsp, err := http.ReadResponse(bufio.NewReader(second), nil)
	if err != nil {
		t.Fatalf("the second connection after the first closed: %v", err)
	}
	rsp.Body.Close()
}
