package consensus

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/gostream"
)

// RaftProtocol is the libp2p protocol that carries Raft RPCs.
const RaftProtocol protocol.ID = "/mesh/raft/1.0.0"

// streamLayer adapts libp2p streams to raft.StreamLayer: a net.Listener of
// inbound streams plus a Dial that opens a stream to a peer ID.
type streamLayer struct {
	h host.Host
	net.Listener
}

func newStreamLayer(h host.Host) (*streamLayer, error) {
	l, err := gostream.Listen(h, RaftProtocol)
	if err != nil {
		return nil, fmt.Errorf("listen for raft streams: %w", err)
	}
	return &streamLayer{h: h, Listener: l}, nil
}

// Dial opens a stream to the peer whose ID is address.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	pid, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("raft address %q is not a peer ID: %w", address, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return gostream.Dial(ctx, s.h, pid, RaftProtocol)
}
