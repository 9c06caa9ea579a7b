package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/dashboard"
	"github.com/meshcompute/mesh/mesh"
)

// defaultDashboard is --dashboard's default, Dask's dashboard port.
const defaultDashboard = ":8787"

// listenDashboard opens the dashboard's listener. When the address was not
// chosen (explicit false) and its port is taken — another node on this
// host — it listens on a free port of the same host instead and says so,
// as Dask does; a chosen address that is taken is an error.
func listenDashboard(addr string, explicit bool, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil && !explicit && errors.Is(err, syscall.EADDRINUSE) {
		host, _, serr := net.SplitHostPort(addr)
		if serr == nil {
			if ln2, err2 := net.Listen("tcp", net.JoinHostPort(host, "0")); err2 == nil {
				log.Warn("dashboard port in use (another node on this host?): serving on a free port instead; choose one with --dashboard HOST:PORT",
					"wanted", addr, "addr", ln2.Addr().String())
				return ln2, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--dashboard %s: %w: pick another address with --dashboard HOST:PORT (port 0 picks a free one), or turn the dashboard off with --dashboard ''", addr, err)
	}
	return ln, nil
}

// serveDashboard serves node's dashboard on ln and writes its host:port to
// <dataDir>/dashboard-addr. The returned function stops it and removes the
// file.
func serveDashboard(node *actors.Node, ln net.Listener, dataDir string, log *slog.Logger) (stop func(), err error) {
	srv := dashboard.Start(node, ln, dashboard.Config{Logger: log.With("part", "dashboard")})
	path := filepath.Join(dataDir, dashboard.AddrFile)
	stop = func() {
		if err := srv.Close(); err != nil {
			log.Warn("stop dashboard", "err", err)
		}
		os.Remove(path)
	}
	if err := mesh.WriteFileAtomic(path, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
		stop()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	log.Info("dashboard serving", "addr", ln.Addr().String(), "file", path)
	return stop, nil
}

// removeDashboardAddr removes a previous run's dashboard-addr file, which
// would name a dead port.
func removeDashboardAddr(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, dashboard.AddrFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
