package cmd

import (
	"log/slog"
	"net"
	"strings"
	"testing"
)

// A taken default dashboard port moves to a free one; a taken chosen
// address is an error naming it and saying what to do.
func TestListenDashboardPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	log := slog.New(slog.DiscardHandler)

	ln, err := listenDashboard(addr, false, log)
	if err != nil {
		t.Fatalf("default address in use: %v, want a free port instead", err)
	}
	got := ln.Addr().(*net.TCPAddr)
	ln.Close()
	if got.String() == addr || !got.IP.IsLoopback() {
		t.Errorf("fallback listens on %s, want another port of 127.0.0.1", got)
	}

	_, err = listenDashboard(addr, true, log)
	if err == nil {
		t.Fatalf("chosen address %s in use: no error", addr)
	}
	for _, want := range []string{"--dashboard " + addr, "address already in use", "--dashboard HOST:PORT", "--dashboard ''"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
