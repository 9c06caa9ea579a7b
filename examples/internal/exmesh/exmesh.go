// Package exmesh is what the examples share: the flags that choose a mesh
// (an in-process futures.LocalCluster by default, or a running mesh with
// -connect), a data directory that is a temporary one unless given, and a
// goroutine-leak check for the examples' tests.
package exmesh

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/meshcompute/mesh/futures"
)

// Mesh says which mesh an example runs on.
type Mesh struct {
	Nodes      int    // nodes of the in-process LocalCluster
	Threads    int    // task threads per node (0: cores ÷ nodes, at least 1)
	Connect    string // a running mesh's node address (/ip4/.../p2p/ID); empty: a LocalCluster
	SecretFile string // that mesh's secret file (with Connect)
	Verbose    bool   // the nodes' logs on standard error (LocalCluster only)

	// Client, when set, is used as it is (and not closed): for tests and
	// programs that already have one.
	Client *futures.Client
}

// AddFlags defines -nodes, -threads, -connect, -secret-file and -v on fs.
func (m *Mesh) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&m.Nodes, "nodes", 2, "nodes of the in-process mesh (futures.NewLocalCluster)")
	fs.IntVar(&m.Threads, "threads", 0, "task threads per node (0: cores / nodes)")
	fs.StringVar(&m.Connect, "connect", "", "use a running mesh: a node's address /ip4/.../p2p/ID (needs -secret-file)")
	fs.StringVar(&m.SecretFile, "secret-file", "", "the running mesh's secret file (with -connect)")
	fs.BoolVar(&m.Verbose, "v", false, "show the in-process nodes' logs")
}

// Open connects to the mesh: a new LocalCluster in this process, or the
// running mesh at Connect. close disconnects and stops the LocalCluster.
func (m Mesh) Open(ctx context.Context) (c *futures.Client, close func(), err error) {
	if m.Client != nil {
		return m.Client, func() {}, nil
	}
	if m.Connect != "" {
		if m.SecretFile == "" {
			return nil, nil, errors.New("-connect needs -secret-file (a copy of the first node's <data-dir>/secret)")
		}
		c, err := futures.Connect(ctx, m.Connect, futures.WithSecretFile(m.SecretFile))
		if err != nil {
			return nil, nil, fmt.Errorf("connect to %s: %w", m.Connect, err)
		}
		return c, func() { c.Close() }, nil
	}
	nodes := max(m.Nodes, 1)
	threads := m.Threads
	if threads <= 0 {
		threads = max(runtime.NumCPU()/nodes, 1)
	}
	opts := []futures.Option{futures.WithThreads(threads)}
	if m.Verbose {
		opts = append(opts, futures.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	}
	lc, err := futures.NewLocalCluster(ctx, nodes, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("start a local mesh of %d nodes: %w", nodes, err)
	}
	c, err = lc.Client(ctx)
	if err != nil {
		lc.Close()
		return nil, nil, fmt.Errorf("client of the local mesh: %w", err)
	}
	return c, func() {
		c.Close()
		lc.Close()
	}, nil
}

// DataDir returns dir, created if missing, or a new temporary directory
// when dir is empty; cleanup removes a temporary one (unless keep).
func DataDir(dir, pattern string, keep bool) (path string, cleanup func(), err error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("data directory: %w", err)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, fmt.Errorf("temporary data directory: %w", err)
	}
	if keep {
		return tmp, func() {}, nil
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// Fail prints err for command name and exits with status 1.
func Fail(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}
