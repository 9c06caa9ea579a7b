package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	ma "github.com/multiformats/go-multiaddr"
	madns "github.com/multiformats/go-multiaddr-dns"
	manet "github.com/multiformats/go-multiaddr/net"
	mss "github.com/multiformats/go-multistream"
)

// ErrSelf: a peer address given to join is this node's own address.
var ErrSelf = errors.New("this node's own address")

// hasPeerID reports whether info names its peer (an address given without
// /p2p/<id> does not).
func hasPeerID(info peer.AddrInfo) bool { return info.ID != "" }

// Resolve turns /dns, /dns4 and /dns6 addresses into IP addresses (IP
// addresses are returned as they are).
func Resolve(ctx context.Context, a ma.Multiaddr) ([]ma.Multiaddr, error) {
	out, err := madns.DefaultResolver.Resolve(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", a, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("resolve %s: the name has no address", a)
	}
	return out, nil
}

// IsOwnAddr reports whether a (an address without /p2p/, /dns names
// resolved) is one this host listens on: the same IP and TCP port as one of
// its addresses. A node given its own address as a peer (the first pod of a
// StatefulSet given the first pod's name) can so skip it without dialing.
func (m *Host) IsOwnAddr(ctx context.Context, a ma.Multiaddr) (bool, error) {
	resolved, err := Resolve(ctx, a)
	if err != nil {
		return false, err
	}
	own := m.h.Addrs()
	for _, r := range resolved {
		if slices.ContainsFunc(own, r.Equal) {
			return true, nil
		}
	}
	return false, nil
}

// Identify learns the peer ID of the node listening at a, an address
// without /p2p/<id> (e.g. /dns4/mesh-0.mesh/tcp/7946): it opens a TCP
// connection, runs the Noise handshake with the mesh's secret as its
// prologue, as libp2p does here, but without an expected peer ID, and
// returns the ID whose key the node proved, then closes the connection. Without the
// mesh's secret the handshake fails as any other dial does; with it, whoever
// answers at that address is trusted to be the node meant (only holders of
// the secret can answer at all).
func (m *Host) Identify(ctx context.Context, a ma.Multiaddr) (peer.ID, error) {
	resolved, err := Resolve(ctx, a)
	if err != nil {
		return "", err
	}
	var errs []error
	for _, r := range resolved {
		id, err := m.identifyAt(ctx, r)
		if err == nil {
			return id, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

func (m *Host) identifyAt(ctx context.Context, a ma.Multiaddr) (peer.ID, error) {
	var d manet.Dialer
	conn, err := d.DialContext(ctx, a)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var c net.Conn = conn
	if err := mss.SelectProtoOrFail(noise.ID, c); err != nil {
		return "", fmt.Errorf("failed to negotiate security protocol: %w", err)
	}
	tpt, err := noise.New(noise.ID, m.h.Peerstore().PrivKey(m.h.ID()), nil)
	if err != nil {
		return "", err
	}
	st, err := tpt.WithSessionOptions(noise.Prologue(m.secret.prologue()), noise.DisablePeerIDCheck())
	if err != nil {
		return "", err
	}
	sc, err := st.SecureOutbound(ctx, c, "")
	if err != nil {
		return "", fmt.Errorf("failed to negotiate security protocol: Noise handshake: %w", err)
	}
	defer sc.Close()
	return sc.RemotePeer(), nil
}
