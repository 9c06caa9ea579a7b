package futures

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/mesh"
)

// LocalCluster is a whole mesh in this process: nodes on 127.0.0.1 with
// their data in a temporary directory, like Dask's LocalCluster.
type LocalCluster struct {
	nodes  []*actors.Node
	inproc *actors.InProcess
	dir    string
	secret mesh.Secret

	mu      sync.Mutex
	clients []*Client
	closed  bool
}

// NewLocalCluster starts nodes mesh nodes in this process and waits until
// they agree on a leader and membership.
func NewLocalCluster(ctx context.Context, nodes int, opts ...Option) (*LocalCluster, error) {
	if nodes < 1 {
		return nil, fmt.Errorf("NewLocalCluster: %d nodes: want at least 1", nodes)
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	secret := o.secret
	if secret == nil {
		var err error
		if secret, err = mesh.NewSecret(); err != nil {
			return nil, err
		}
	}
	if o.threads <= 0 {
		// Like Dask's LocalCluster: the machine's cores shared among the
		// nodes, not each node taking them all.
		o.threads = max(1, runtime.NumCPU()/nodes)
	}
	dir, err := os.MkdirTemp("", "mesh-local-*")
	if err != nil {
		return nil, err
	}
	lc := &LocalCluster{dir: dir, secret: secret, inproc: actors.NewInProcess()}
	ns, err := actors.StartLocalMesh(ctx, dir, nodes, actors.NodeConfig{
		Secret: secret, Logger: o.logger, Threads: o.threads, Replicas: o.replicas, MemoryLimit: o.memoryLimit, Resources: o.resources,
		ClientTimeout: o.clientTTL, InProcess: lc.inproc,
	})
	lc.nodes = ns
	if err != nil {
		lc.Close()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := actors.WaitAgreed(wctx, ns); err != nil {
		lc.Close()
		return nil, err
	}
	return lc, nil
}

// Addr is the first node's multiaddr, for Connect.
func (lc *LocalCluster) Addr() string {
	return lc.nodes[0].Addrs()[0].String()
}

// Secret is the cluster's secret, for Connect(..., WithSecret(...)).
func (lc *LocalCluster) Secret() mesh.Secret { return lc.secret }

// Nodes are the cluster's nodes (tests stop them to play failures).
func (lc *LocalCluster) Nodes() []*actors.Node { return lc.nodes }

// Client connects a new client to the cluster (opts as for Connect; the
// cluster's secret is given); Close closes it too. Being in the nodes'
// process, the client reads the values they hold from their stores, not
// over the network (as Dask's in-process LocalCluster does); a client made
// with Connect always fetches over the network.
func (lc *LocalCluster) Client(ctx context.Context, opts ...Option) (*Client, error) {
	opts = append(append([]Option(nil), opts...), WithSecret(lc.secret), func(o *options) { o.inproc = lc.inproc })
	c, err := Connect(ctx, lc.Addr(), opts...)
	if err != nil {
		return nil, err
	}
	lc.mu.Lock()
	lc.clients = append(lc.clients, c)
	lc.mu.Unlock()
	return c, nil
}

// Close closes the clients and nodes and removes the cluster's data.
func (lc *LocalCluster) Close() error {
	lc.mu.Lock()
	if lc.closed {
		lc.mu.Unlock()
		return nil
	}
	lc.closed = true
	clients := lc.clients
	lc.mu.Unlock()
	var errs []error
	for _, c := range clients {
		errs = append(errs, c.Close())
	}
	for _, n := range lc.nodes {
		errs = append(errs, n.Close())
	}
	errs = append(errs, os.RemoveAll(lc.dir))
	return errors.Join(errs...)
}
