package mesh_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/mesh"
)

// tcpAddr is h's first address without /p2p/<id>, and the same under the
// name localhost.
func tcpAddr(t *testing.T, h *mesh.Host) (ip, dns ma.Multiaddr) {
	t.Helper()
	a, _ := peer.SplitAddr(h.Addrs()[0])
	port, err := a.ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	return a, ma.StringCast("/dns4/localhost/tcp/" + port)
}

// A peer given without /p2p/<id> is asked for its ID over the private
// network and TLS, by IP or DNS name; Connect returns it with the ID.
func TestConnectWithoutPeerID(t *testing.T) {
	secret := newSecret(t)
	a, b := newHost(t, secret), newHost(t, secret)
	ip, dns := tcpAddr(t, a)
	for _, addr := range []ma.Multiaddr{ip, dns} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		id, err := b.Identify(ctx, addr)
		cancel()
		if err != nil || id != a.ID() {
			t.Fatalf("Identify(%s) = %s, %v; want %s", addr, id, err, a.ID())
		}
		info, err := mesh.ParsePeerAddr(addr.String())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		got, err := b.Connect(ctx, []peer.AddrInfo{info})
		cancel()
		if err != nil || got.ID != a.ID() {
			t.Fatalf("Connect(%s) = %v, %v; want peer %s", addr, got, err, a.ID())
		}
		if len(b.LibP2P().Network().ConnsToPeer(a.ID())) == 0 {
			t.Fatalf("Connect(%s) returned but no connection to %s is open", addr, a.ID())
		}
	}
}

// The secret is still required: a host with another secret learns nothing
// and its Connect fails as a failed handshake (or an unreachable peer, when
// the handshake stalls until the dial timeout), never as a connection.
func TestConnectWithoutPeerIDNeedsTheSecret(t *testing.T) {
	a, intruder := newHost(t, newSecret(t)), newHost(t, newSecret(t))
	ip, _ := tcpAddr(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if id, err := intruder.Identify(ctx, ip); err == nil {
		t.Fatalf("Identify with another secret = %s, want an error", id)
	}
	info, _ := mesh.ParsePeerAddr(ip.String())
	ctx2, cancel2 := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel2()
	got, err := intruder.Connect(ctx2, []peer.AddrInfo{info})
	if err == nil || !(errors.Is(err, mesh.ErrHandshake) || errors.Is(err, mesh.ErrUnreachable)) {
		t.Fatalf("Connect with another secret = %v, %v; want ErrHandshake or ErrUnreachable", got, err)
	}
	if !strings.Contains(err.Error(), ip.String()) {
		t.Errorf("error does not name the address tried %s: %v", ip, err)
	}
	if len(a.LibP2P().Network().Peers()) != 0 {
		t.Errorf("the host has peers after an intruder's dial: %v", a.LibP2P().Network().Peers())
	}
}

// A host recognises its own address (by IP and by name) without dialing,
// and Connect to it alone fails at once with ErrSelf.
func TestOwnAddress(t *testing.T) {
	secret := newSecret(t)
	a, b := newHost(t, secret), newHost(t, secret)
	ip, dns := tcpAddr(t, a)
	ctx := context.Background()
	for _, addr := range []ma.Multiaddr{ip, dns} {
		if own, err := a.IsOwnAddr(ctx, addr); err != nil || !own {
			t.Errorf("a.IsOwnAddr(%s) = %v, %v; want true", addr, own, err)
		}
		if own, err := b.IsOwnAddr(ctx, addr); err != nil || own {
			t.Errorf("b.IsOwnAddr(%s) = %v, %v; want false", addr, own, err)
		}
	}
	if _, err := a.IsOwnAddr(ctx, ma.StringCast("/dns4/no-such-host.invalid/tcp/7946")); err == nil {
		t.Error("IsOwnAddr of a name that does not resolve: no error")
	}
	info, _ := mesh.ParsePeerAddr(ip.String())
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := a.Connect(cctx, []peer.AddrInfo{info}); !errors.Is(err, mesh.ErrSelf) {
		t.Fatalf("Connect to its own address = %v, want ErrSelf", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Connect to its own address took %v: it should not retry", took)
	}
}
