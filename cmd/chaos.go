package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/meshcompute/mesh/mesh"
)

// ChaosAddrFile is where `mesh join --chaos` writes the host:port of its
// partition switch (tests and chaos runs only).
const ChaosAddrFile = "chaos-addr"

// checkLoopback refuses a --chaos-listen address other processes could
// reach: the switch has no authentication.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--chaos-listen %q: %v (expected e.g. 127.0.0.1:0)", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--chaos-listen %q: must be a loopback address such as 127.0.0.1:0 (the partition switch has no authentication)", addr)
	}
	return nil
}

// serveChaos serves the partition switch of gater (mesh.ChaosHandler) on
// addr and writes its host:port to <dataDir>/chaos-addr once listening.
// The returned function stops it and removes the file.
func serveChaos(addr, dataDir string, gater *mesh.ChaosGater, log *slog.Logger) (stop func(), err error) {
	path := filepath.Join(dataDir, ChaosAddrFile)
	// A previous run's file would name a dead port.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--chaos-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mesh.ChaosHandler(gater), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop = func() {
		srv.Close()
		<-done
		os.Remove(path)
	}
	if err := mesh.WriteFileAtomic(path, []byte(ln.Addr().String()), 0o644); err != nil {
		stop()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	log.Info("chaos partition switch serving (tests only)", "addr", ln.Addr().String(), "file", path)
	return stop, nil
}
