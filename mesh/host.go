package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// More sentinel errors.
var (
	// ErrAddrInUse: the listen address is taken by another process.
	ErrAddrInUse = errors.New("listen address already in use")
	// ErrBadAddr: a multiaddr could not be parsed or lacks a part we need.
	ErrBadAddr = errors.New("malformed multiaddr")
	// ErrUnreachable: no address of a peer answered.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrHandshake: a TCP connection opened but the Noise handshake (bound
	// to the secret) failed, which almost always means the secrets differ.
	ErrHandshake = errors.New("handshake failed")
)

// Config describes a host to start.
type Config struct {
	// Listen addresses; empty for a client that only dials.
	Listen []ma.Multiaddr
	// Key is the node identity; nil makes an ephemeral one (clients).
	Key crypto.PrivKey
	// Secret is the cluster secret; required.
	Secret Secret
	// Logger receives the host's logs; nil discards them.
	Logger *slog.Logger
	// Gater, for tests and chaos runs only, can cut the host off from
	// chosen peers (see ChaosGater); nil: no gater.
	Gater *ChaosGater
}

// Host is a libp2p host that only holders of the secret can reach, with
// the msgpack wire protocol on top. It owns the goroutines that send to
// each peer.
type Host struct {
	h      host.Host
	cm     *connmgr.BasicConnMgr
	log    *slog.Logger
	secret Secret

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	out     map[lane]*outbound
	handler func(from peer.ID, env *Envelope)
	onDrop  func(to peer.ID, env *Envelope, err error)
	closed  bool
}

// NewHost starts a libp2p host: TCP, Noise security with a hash of the
// secret as the handshake's prologue (only holders of the secret complete
// it), yamux, no relays, and resource limits sized for a
// cluster rather than the public internet.
func NewHost(cfg Config) (*Host, error) {
	if len(cfg.Secret) != 32 {
		return nil, fmt.Errorf("a 32-byte cluster secret is required: %w", ErrBadSecret)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cm, err := connmgr.NewConnManager(1000, 2000, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.InfiniteLimits))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	opts := []libp2p.Option{
		// No SO_REUSEPORT: with it a second node on the same port binds
		// too and the kernel splits inbound connections between the two.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Security(noise.ID, func(id protocol.ID, key crypto.PrivKey, muxers []tptu.StreamMuxer) (*noise.SessionTransport, error) {
			t, err := noise.New(id, key, muxers)
			if err != nil {
				return nil, err
			}
			return t.WithSessionOptions(noise.Prologue(cfg.Secret.prologue()))
		}),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		// Give up on one address after 2 s (libp2p: 5 s on a LAN, 15 s
		// otherwise). With another secret the handshake stalls rather than
		// fails, and only this timeout reports it as a handshake failure:
		// if the caller's context ends first, libp2p says just "context
		// deadline exceeded". It must stay below Connect's callers' budget.
		libp2p.WithDialTimeout(2 * time.Second),
	}
	if cfg.Key != nil {
		opts = append(opts, libp2p.Identity(cfg.Key))
	}
	if cfg.Gater != nil {
		opts = append(opts, libp2p.ConnectionGater(cfg.Gater))
	}
	if len(cfg.Listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrs(cfg.Listen...))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		rm.Close()
		if strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("listen on %v: %w: stop the other process or pick another --listen port", cfg.Listen, ErrAddrInUse)
		}
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	if cfg.Gater != nil {
		if err := cfg.Gater.attach(h.Network(), log); err != nil {
			h.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Host{h: h, cm: cm, log: log, secret: cfg.Secret, ctx: ctx, cancel: cancel, out: map[lane]*outbound{}}
	h.SetStreamHandler(MsgProtocol, m.handleStream)
	return m, nil
}

// LibP2P exposes the underlying host for layers that open their own
// protocols (Raft's stream layer).
func (m *Host) LibP2P() host.Host { return m.h }

// ID is this node's peer ID.
func (m *Host) ID() peer.ID { return m.h.ID() }

// Addrs returns the host's full multiaddrs, each ending in /p2p/<id>, with
// non-loopback addresses first.
func (m *Host) Addrs() []ma.Multiaddr {
	p2p, _ := ma.NewComponent("p2p", m.h.ID().String())
	var public, loop []ma.Multiaddr
	for _, a := range m.h.Addrs() {
		full := a.Encapsulate(p2p.Multiaddr())
		if isLoopback(a) {
			loop = append(loop, full)
		} else {
			public = append(public, full)
		}
	}
	return append(public, loop...)
}

func isLoopback(a ma.Multiaddr) bool {
	v, err := a.ValueForProtocol(ma.P_IP4)
	if err == nil {
		return strings.HasPrefix(v, "127.")
	}
	v, err = a.ValueForProtocol(ma.P_IP6)
	return err == nil && v == "::1"
}

// AddPeer records a member's addresses for good and protects its connection
// from the connection manager's trimming.
func (m *Host) AddPeer(info peer.AddrInfo) {
	if info.ID == m.h.ID() {
		return
	}
	m.h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	m.cm.Protect(info.ID, "member")
}

// PeerAddrs returns the addresses the peerstore knows for p.
func (m *Host) PeerAddrs(p peer.ID) []ma.Multiaddr { return m.h.Peerstore().Addrs(p) }

// ParsePeerAddr parses a peer's multiaddr: a full one such as
// /ip4/10.0.0.1/tcp/7946/p2p/12D3KooW..., or one without /p2p/<id> such as
// /dns4/mesh-0.mesh/tcp/7946 or /ip4/10.0.0.1/tcp/7946, whose peer ID
// Connect learns from the node there (see Identify); its ID is then empty.
func ParsePeerAddr(s string) (peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(strings.TrimSpace(s))
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%q: %w: %v (expected e.g. /ip4/10.0.0.1/tcp/7946/p2p/12D3KooW... or /dns4/mesh-0.mesh/tcp/7946)", s, ErrBadAddr, err)
	}
	if _, err := a.ValueForProtocol(ma.P_P2P); err != nil {
		if !isTCPHostAddr(a) {
			return peer.AddrInfo{}, fmt.Errorf("%q: %w: want /ip4, /ip6, /dns, /dns4 or /dns6, then /tcp/<port>, then optionally /p2p/<peer id> (as printed by `mesh join` and written to <data-dir>/addr)", s, ErrBadAddr)
		}
		return peer.AddrInfo{Addrs: []ma.Multiaddr{a}}, nil
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%q: %w: %v: it must end in /p2p/<peer id>, as printed by `mesh join` and written to <data-dir>/addr", s, ErrBadAddr, err)
	}
	return *info, nil
}

// isTCPHostAddr reports whether a is exactly a host (IP or DNS name) and a
// TCP port: an address a peer ID can be learned from.
func isTCPHostAddr(a ma.Multiaddr) bool {
	if len(a) != 2 || a[1].Protocol().Code != ma.P_TCP {
		return false
	}
	switch a[0].Protocol().Code {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		return true
	}
	return false
}

// PeerLabel names a peer in messages: its full address, or for a peer
// given without /p2p/<id>, the address given.
func PeerLabel(info peer.AddrInfo) string {
	if hasPeerID(info) {
		return info.String()
	}
	var parts []string
	for _, a := range info.Addrs {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, ",")
}

// ParseListenAddr parses a listen multiaddr such as /ip4/0.0.0.0/tcp/7946.
func ParseListenAddr(s string) (ma.Multiaddr, error) {
	a, err := ma.NewMultiaddr(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w: %v (expected e.g. /ip4/0.0.0.0/tcp/7946)", s, ErrBadAddr, err)
	}
	if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
		return nil, fmt.Errorf("listen address %q: %w: it needs a /tcp/<port> part (private meshes run over TCP only)", s, ErrBadAddr)
	}
	return a, nil
}

// Connect dials the peers until one answers, retrying with exponential
// backoff until ctx ends. It returns the peer that answered. The error names
// every address tried and what each said.
func (m *Host) Connect(ctx context.Context, peers []peer.AddrInfo) (peer.AddrInfo, error) {
	if len(peers) == 0 {
		return peer.AddrInfo{}, fmt.Errorf("no peer to connect to: %w", ErrUnreachable)
	}
	backoff := 100 * time.Millisecond
	last := map[string]error{}
	for {
		selves := 0
		for _, p := range peers {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			full, err := m.connectOne(dctx, p)
			cancel()
			if err == nil {
				return full, nil
			}
			if errors.Is(err, ErrSelf) {
				// Not worth retrying; Connect fails if no other peer answers.
				last[PeerLabel(p)] = err
				selves++
				continue
			}
			// An attempt cut short by the end of ctx tells nothing new:
			// keep what the previous attempt said.
			if _, seen := last[PeerLabel(p)]; !seen || ctx.Err() == nil {
				last[PeerLabel(p)] = classifyDialError(err)
			}
		}
		if selves == len(peers) {
			return peer.AddrInfo{}, fmt.Errorf("no peer to connect to: every address given is %w", ErrSelf)
		}
		select {
		case <-ctx.Done():
			var b strings.Builder
			handshake := false
			for addr, err := range last {
				fmt.Fprintf(&b, "\n  %s: %v", addr, err)
				handshake = handshake || errors.Is(err, ErrHandshake)
			}
			if handshake {
				return peer.AddrInfo{}, fmt.Errorf("%w: could not connect to any peer; tried:%s", ErrHandshake, b.String())
			}
			return peer.AddrInfo{}, fmt.Errorf("%w: no peer answered before giving up; tried:%s", ErrUnreachable, b.String())
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// connectOne connects to one peer; a peer given without its ID is first
// asked for it (Identify). It returns the peer with its ID.
func (m *Host) connectOne(ctx context.Context, p peer.AddrInfo) (peer.AddrInfo, error) {
	if !hasPeerID(p) {
		var errs []error
		for _, a := range p.Addrs {
			id, err := m.Identify(ctx, a)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if id == m.h.ID() {
				return peer.AddrInfo{}, fmt.Errorf("%s: %w (the node there is this one, %s)", a, ErrSelf, id)
			}
			p = peer.AddrInfo{ID: id, Addrs: p.Addrs}
			errs = nil
			break
		}
		if errs != nil {
			return peer.AddrInfo{}, errors.Join(errs...)
		}
	}
	m.h.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.PermanentAddrTTL)
	// This loop backs off itself; the swarm's own dial backoff
	// (5 s and up after a failure) would turn every retry into a
	// "dial backoff" error that hides the real one.
	if sw, ok := m.h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(p.ID)
	}
	if err := m.h.Connect(ctx, p); err != nil {
		return peer.AddrInfo{}, err
	}
	return p, nil
}

// classifyDialError turns libp2p's dial errors into ones a user can act on.
func classifyDialError(err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "gater disallows connection"):
		return fmt.Errorf("%w: blocked by this node's chaos partition switch (mesh join --chaos)", ErrUnreachable)
	case strings.Contains(s, "no such host"), strings.Contains(s, "the name has no address"):
		return fmt.Errorf("%w: the name does not resolve (yet): %v (a Kubernetes headless Service publishes a pod's name only with publishNotReadyAddresses: true, or once the pod is ready)", ErrUnreachable, err)
	case strings.Contains(s, "connection refused"):
		return fmt.Errorf("%w: connection refused (is a mesh node running there?)", ErrUnreachable)
	case strings.Contains(s, "peer id mismatch"):
		return fmt.Errorf("%w: a different node answers at that address (its peer ID changed): use the address in its <data-dir>/addr", ErrUnreachable)
	case strings.Contains(s, "failed to negotiate security protocol"):
		// TCP connected but the handshake did not finish. With another
		// secret the peer reads noise and often just waits, so this
		// often ends in "context deadline exceeded": check it first.
		return fmt.Errorf("%w: the peer accepted the TCP connection but the handshake failed; the secret file most likely differs from the mesh's (use a copy of the first node's <data-dir>/secret): %v", ErrHandshake, err)
	case strings.Contains(s, "no route to host"), strings.Contains(s, "i/o timeout"), strings.Contains(s, "context deadline exceeded"):
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	case strings.Contains(s, "failed to negotiate"), strings.Contains(s, "EOF"), strings.Contains(s, "connection reset"),
		strings.Contains(s, "handshake"), strings.Contains(s, "protocols not supported"), strings.Contains(s, "message did not have trailing newline"),
		strings.Contains(s, "too large"):
		return fmt.Errorf("%w: the peer accepted the TCP connection but the handshake failed; the secret file most likely differs from the mesh's (use a copy of the first node's <data-dir>/secret): %v", ErrHandshake, err)
	}
	return err
}

// Close stops every sender and the libp2p host.
func (m *Host) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.h.RemoveStreamHandler(MsgProtocol)
	m.cancel()
	m.wg.Wait()
	return m.h.Close()
}

// Network exposes connection events (for tests and the membership layer).
func (m *Host) Network() network.Network { return m.h.Network() }
