package actors

import (
	"errors"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/actors/store"
)

// InProcess is a set of nodes running in this process (a local mesh, like
// Dask's LocalCluster). A node or a client that knows the set reads a
// value held by one of them straight from that node's store — the same
// shared, read-only bytes a task on that node gets — instead of fetching it
// over the network (encrypted, framed, copied twice). Values stay
// immutable once stored, so sharing them between nodes is safe.
//
// A node joins the set given in NodeConfig.InProcess when it starts and
// leaves it when it closes; a node that is gone, a key it does not hold, or
// a peer cut off by the node's chaos gater falls back to the network.
type InProcess struct {
	mu    sync.RWMutex
	nodes map[string]*Node
}

// NewInProcess returns an empty set.
func NewInProcess() *InProcess { return &InProcess{nodes: map[string]*Node{}} }

func (p *InProcess) add(n *Node) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.nodes[n.self] = n
	p.mu.Unlock()
}

func (p *InProcess) remove(n *Node) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.nodes[n.self] == n {
		delete(p.nodes, n.self)
	}
	p.mu.Unlock()
}

// Has reports whether the node with this id (a peer.ID string) runs in
// this process.
func (p *InProcess) Has(id string) bool {
	if p == nil {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.nodes[id] != nil
}

// Values returns the values node id holds for keys, in order; a key it
// does not hold (or cannot read) has a nil entry. ok is false if id is not
// a node of the set. The values are shared with the node's store and must
// not be modified.
func (p *InProcess) Values(id string, keys []string) (vals [][]byte, ok bool) {
	if p == nil {
		return nil, false
	}
	p.mu.RLock()
	n := p.nodes[id]
	p.mu.RUnlock()
	if n == nil {
		return nil, false
	}
	vals = make([][]byte, len(keys))
	for i, k := range keys {
		if v, err := n.store.Get(k); err == nil {
			vals[i] = v
		}
	}
	return vals, true
}

// localValue reads key from holder h's store when h is another node of
// this node's in-process set that the chaos gater (if any) does not cut
// off; ok is false when it must be fetched over the network.
func (n *Node) localValue(h, key string) ([]byte, bool) {
	hn := n.localNode(h)
	if hn == nil {
		return nil, false
	}
	v, err := hn.store.Get(key)
	return v, err == nil
}

// localNode returns holder h when it is another node of this node's
// in-process set that the chaos gater (if any) does not cut off.
func (n *Node) localNode(h string) *Node {
	if n.cfg.InProcess == nil || h == n.self {
		return nil
	}
	if g := n.cfg.Chaos; g != nil {
		if p, err := peer.Decode(h); err != nil || g.IsBlocked(p) {
			return nil
		}
	}
	p := n.cfg.InProcess
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.nodes[h]
}

// storeLocal puts replicas into the store of in-process node t, sharing
// the bytes (as StoreValues would store a received copy); false if t
// cannot be reached that way or its store failed.
func (n *Node) storeLocal(t string, keys []string, values [][]byte, gens []uint64) bool {
	tn := n.localNode(t)
	if tn == nil {
		return false
	}
	for i, k := range keys {
		var gen uint64
		if i < len(gens) {
			gen = gens[i]
		}
		if err := tn.putValue(k, values[i], gen); err != nil {
			var se *store.SpillError
			if !errors.As(err, &se) {
				n.log.Warn("replicate failed", "to", t, "key", k, "err", err)
				return false
			}
		}
	}
	return true
}
