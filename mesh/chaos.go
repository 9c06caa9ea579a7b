package mesh

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ChaosGater is a network-partition switch for tests and chaos runs only
// (`mesh join --chaos`): a libp2p connection gater that refuses every
// connection to or from the peers it is told to block, so that nodes can be
// cut off from each other without root privileges. Give it to a host with
// Config.Gater. With an empty blocked set (the start, and after Heal) it
// lets everything through at the cost of one atomic load per check.
type ChaosGater struct {
	// blocked is nil or an immutable set, replaced whole on every change.
	blocked atomic.Pointer[map[peer.ID]struct{}]

	mu  sync.Mutex // serializes changes and attach
	net network.Network
	log *slog.Logger
}

// NewChaosGater returns a gater that blocks nobody.
func NewChaosGater() *ChaosGater {
	return &ChaosGater{log: slog.New(slog.DiscardHandler)}
}

// attach binds the gater to the host it gates (once): Block closes that
// host's connections, and a connection that raced past the checks while the
// set changed is closed as soon as it is up.
func (g *ChaosGater) attach(n network.Network, log *slog.Logger) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.net != nil {
		return errors.New("a ChaosGater gates one host only")
	}
	g.net, g.log = n, log
	n.Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if g.IsBlocked(c.RemotePeer()) {
			_ = c.Close()
		}
	}})
	return nil
}

// Block replaces the blocked set with ids: from now on the host refuses
// every connection to or from them, and its open connections to them are
// closed. Block(nil) is Heal.
func (g *ChaosGater) Block(ids []peer.ID) {
	set := make(map[peer.ID]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(set) == 0 {
		g.blocked.Store(nil)
	} else {
		g.blocked.Store(&set)
	}
	g.log.Info("chaos: blocked peers changed", "blocked", sortedIDs(set))
	if g.net == nil {
		return
	}
	for id := range set {
		_ = g.net.ClosePeer(id)
	}
}

// Heal unblocks every peer. Connections come back as the layers above
// redial (Raft, heartbeats, message sends).
func (g *ChaosGater) Heal() { g.Block(nil) }

// Blocked returns the blocked peers, sorted by their string form; empty,
// never nil.
func (g *ChaosGater) Blocked() []peer.ID {
	p := g.blocked.Load()
	if p == nil {
		return []peer.ID{}
	}
	return sortedIDs(*p)
}

// IsBlocked reports whether p is blocked.
func (g *ChaosGater) IsBlocked(p peer.ID) bool {
	set := g.blocked.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[p]
	return ok
}

func sortedIDs(set map[peer.ID]struct{}) []peer.ID {
	out := make([]peer.ID, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b peer.ID) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// InterceptPeerDial refuses outbound dials to a blocked peer.
func (g *ChaosGater) InterceptPeerDial(p peer.ID) bool { return !g.IsBlocked(p) }

// InterceptAddrDial refuses outbound dials to a blocked peer's addresses.
func (g *ChaosGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.IsBlocked(p) }

// InterceptAccept lets every inbound connection through: the peer is not
// known yet (InterceptSecured decides).
func (g *ChaosGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses a connection, inbound or outbound, whose
// authenticated peer is blocked.
func (g *ChaosGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.IsBlocked(p)
}

// InterceptUpgraded refuses a blocked peer's connection once more, just
// before it is added (the set may have changed during the handshake).
func (g *ChaosGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return !g.IsBlocked(c.RemotePeer()), 0
}

// ChaosHandler serves the chaos admin endpoints over g (tests and chaos runs
// only; `mesh join --chaos` serves it on a loopback address):
//
//	POST /partition?block=<peer ID>,<peer ID>,...  replace the blocked set
//	POST /heal                                     clear it
//	GET  /blocked                                  show it
//
// Each answers 200 with {"blocked":[...]}; a malformed peer ID is a 400
// naming it.
func ChaosHandler(g *ChaosGater) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter) {
		ids := g.Blocked()
		out := struct {
			Blocked []string `json:"blocked"`
		}{Blocked: make([]string, 0, len(ids))}
		for _, id := range ids {
			out.Blocked = append(out.Blocked, id.String())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
	mux.HandleFunc("POST /partition", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !q.Has("block") {
			http.Error(w, "missing ?block=<peer ID>,<peer ID>,... (POST /heal clears the blocked set)", http.StatusBadRequest)
			return
		}
		var ids []peer.ID
		for _, v := range q["block"] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				id, err := peer.Decode(s)
				if err != nil {
					http.Error(w, fmt.Sprintf("bad peer ID %q: %v", s, err), http.StatusBadRequest)
					return
				}
				ids = append(ids, id)
			}
		}
		g.Block(ids)
		reply(w)
	})
	mux.HandleFunc("POST /heal", func(w http.ResponseWriter, _ *http.Request) {
		g.Heal()
		reply(w)
	})
	mux.HandleFunc("GET /blocked", func(w http.ResponseWriter, _ *http.Request) { reply(w) })
	return mux
}
