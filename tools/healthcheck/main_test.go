package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer up.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	for target, healthy := range map[string]bool{
		up.URL + "/health": true,
		up.URL + "/other":  false,
		"tcp://" + strings.TrimPrefix(up.URL, "http://"): true,
		"tcp://" + closedAddr:                            false,
		"http://" + closedAddr + "/health":               false,
		"ftp://example":                                  false,
	} {
		if err := probe(target); (err == nil) != healthy {
			t.Errorf("%s: %v, want healthy=%v", target, err, healthy)
		}
	}
}
