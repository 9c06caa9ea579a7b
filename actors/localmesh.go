package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/mesh"
)

// StartLocalMesh starts n nodes in this process on 127.0.0.1 with free
// ports and data dirs dir/node1..nodeN: the first makes a new mesh with a
// fresh secret, the others join it. tmpl supplies the other settings. On
// error it returns the nodes started so far, for the caller to close.
func StartLocalMesh(ctx context.Context, dir string, n int, tmpl NodeConfig) ([]*Node, error) {
	secret := tmpl.Secret
	if secret == nil {
		var err error
		if secret, err = mesh.NewSecret(); err != nil {
			return nil, err
		}
	}
	listen, _ := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/0")
	var nodes []*Node
	var first peer.AddrInfo
	for i := range n {
		cfg := tmpl
		cfg.DataDir = filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		cfg.Listen = []ma.Multiaddr{listen}
		cfg.Secret = secret
		cfg.Name = fmt.Sprintf("node%d", i+1)
		if i > 0 {
			cfg.Peers = []peer.AddrInfo{first}
		}
		if err := writeSecretFile(cfg.DataDir, secret); err != nil {
			return nodes, err
		}
		node, err := StartNode(ctx, cfg)
		if err != nil {
			return nodes, fmt.Errorf("start %s: %w", cfg.Name, err)
		}
		nodes = append(nodes, node)
		if i == 0 {
			first = peer.AddrInfo{ID: node.ID(), Addrs: node.host.LibP2P().Addrs()}
		}
	}
	return nodes, nil
}

func writeSecretFile(dir string, s mesh.Secret) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return mesh.WriteSecretFile(filepath.Join(dir, mesh.SecretFile), s)
}

// WaitAgreed polls until every node reports the same leader and the same
// set of members, all alive, and returns that status.
func WaitAgreed(ctx context.Context, nodes []*Node) (*Status, error) {
	var last error
	for {
		st, err := agreed(ctx, nodes)
		if err == nil {
			return st, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("mesh did not agree: %w (last: %v)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func agreed(ctx context.Context, nodes []*Node) (*Status, error) {
	var first *Status
	for _, n := range nodes {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := replyAs[Status](n.remote.Request(rctx, n.remote.PID(n.ID(), MembershipID), &StatusRequest{Local: true}))
		cancel()
		if err != nil {
			return nil, err
		}
		if st.Leader == "" {
			return nil, fmt.Errorf("node %s knows no leader", n.ID())
		}
		if len(st.Members) != len(nodes) {
			return nil, fmt.Errorf("node %s sees %d members, want %d", n.ID(), len(st.Members), len(nodes))
		}
		for _, m := range st.Members {
			if m.State != "alive" {
				return nil, fmt.Errorf("node %s sees %s as %s", n.ID(), m.ID, m.State)
			}
		}
		if first == nil {
			first = st
			continue
		}
		if st.Leader != first.Leader {
			return nil, fmt.Errorf("nodes disagree on the leader: %s vs %s", st.Leader, first.Leader)
		}
		if !slices.EqualFunc(st.Members, first.Members, func(a, b MemberStatus) bool { return a.ID == b.ID && a.Role == b.Role }) {
			return nil, fmt.Errorf("nodes disagree on membership")
		}
	}
	// Answer with the leader's view.
	for _, n := range nodes {
		if n.ID().String() == first.Leader {
			return n.Status(ctx)
		}
	}
	return first, nil
}
