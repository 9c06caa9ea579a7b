package mesh_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/mesh"
)

// newGatedHost is newHost with a chaos gater.
func newGatedHost(t *testing.T, secret mesh.Secret) (*mesh.Host, *mesh.ChaosGater) {
	t.Helper()
	g := mesh.NewChaosGater()
	h, err := mesh.NewHost(mesh.Config{
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Secret: secret,
		Gater:  g,
	})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, g
}

// drops collects the drop handler's reports, per destination.
type drops chan error

func watchDrops(h *mesh.Host, to peer.ID) drops {
	d := make(drops, 1024)
	h.SetDropHandler(func(p peer.ID, _ *mesh.Envelope, err error) {
		if p == to {
			select {
			case d <- err:
			default:
			}
		}
	})
	return d
}

// sendFails sends from h to p and waits for the drop report: it must come
// well within the message layer's 5 s dial timeout (a refused dial fails at
// once; a hanging one would take the whole timeout).
func sendFails(t *testing.T, h *mesh.Host, p peer.ID, d drops, got *received) {
	t.Helper()
	before := got.len()
	start := time.Now()
	if err := h.Send(p, &mesh.Envelope{Target: "blocked", Type: "t"}); err != nil {
		return // failing at once is fine too
	}
	select {
	case err := <-d:
		if !errors.Is(err, mesh.ErrUnreachable) {
			t.Errorf("send to a blocked peer failed with %v, want ErrUnreachable", err)
		}
		took := time.Since(start)
		if took > 4*time.Second {
			t.Errorf("send to a blocked peer took %v to fail", took)
		}
		t.Logf("send %s → %s failed after %v: %v", h.ID(), p, took.Round(time.Millisecond), err)
	case <-time.After(4 * time.Second):
		t.Fatalf("send to a blocked peer: no failure within 4 s")
	}
	if got.len() != before {
		t.Errorf("a message crossed the partition")
	}
}

// sendArrives sends from h to p until one message arrives (the first ones
// after a heal may still meet a stream reset by the partition).
func sendArrives(t *testing.T, h *mesh.Host, p peer.ID, got *received) {
	t.Helper()
	before := got.len()
	deadline := time.Now().Add(20 * time.Second)
	for got.len() == before {
		if time.Now().After(deadline) {
			t.Fatalf("no message from %s reached %s within 20 s", h.ID(), p)
		}
		_ = h.Send(p, &mesh.Envelope{Target: "healed", Type: "t"})
		wait := time.Now().Add(200 * time.Millisecond)
		for got.len() == before && time.Now().Before(wait) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func connected(a *mesh.Host, b peer.ID) bool {
	return a.Network().Connectedness(b) == network.Connected
}

func TestChaosPartitionAndHeal(t *testing.T) {
	secret := newSecret(t)
	a, ga := newGatedHost(t, secret)
	b, gb := newGatedHost(t, secret)
	c := newHost(t, secret) // no gater: the rest of the mesh
	var gotA, gotB, gotC received
	a.SetHandler(gotA.handle)
	b.SetHandler(gotB.handle)
	c.SetHandler(gotC.handle)
	for _, x := range []*mesh.Host{a, b, c} {
		for _, y := range []*mesh.Host{a, b, c} {
			x.AddPeer(info(t, y))
		}
	}
	dropsAB, dropsBA := watchDrops(a, b.ID()), watchDrops(b, a.ID())
	sendArrives(t, a, b.ID(), &gotB)
	sendArrives(t, b, a.ID(), &gotA)
	sendArrives(t, a, c.ID(), &gotC)

	// Cut a and b off from each other; both still reach c.
	ga.Block([]peer.ID{b.ID()})
	gb.Block([]peer.ID{a.ID()})
	if got := ga.Blocked(); !slices.Equal(got, []peer.ID{b.ID()}) {
		t.Fatalf("Blocked() = %v, want [%s]", got, b.ID())
	}
	waitFor(t, 5*time.Second, "the a-b connection to close", func() bool { return !connected(a, b.ID()) && !connected(b, a.ID()) })
	sendFails(t, a, b.ID(), dropsAB, &gotB)
	sendFails(t, a, b.ID(), dropsAB, &gotB) // a redial, refused by a's own gater
	sendFails(t, b, a.ID(), dropsBA, &gotA)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	start := time.Now()
	_, err := a.Connect(ctx, []peer.AddrInfo{info(t, b)})
	cancel()
	if err == nil || !errors.Is(err, mesh.ErrUnreachable) || !strings.Contains(err.Error(), "chaos") {
		t.Errorf("Connect to a blocked peer: err = %v, want ErrUnreachable naming the chaos switch", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Connect to a blocked peer took %v", took)
	}
	sendArrives(t, a, c.ID(), &gotC)
	sendArrives(t, c, b.ID(), &gotB)
	if connected(a, b.ID()) {
		t.Fatal("a and b are connected across the partition")
	}

	// Heal: the message layer redials.
	ga.Heal()
	gb.Heal()
	if got := ga.Blocked(); len(got) != 0 || got == nil {
		t.Fatalf("Blocked() after Heal = %#v, want an empty slice", got)
	}
	sendArrives(t, a, b.ID(), &gotB)
	sendArrives(t, b, a.ID(), &gotA)
}

// TestChaosBlocksInbound: a peer that does not block back cannot connect
// either (the gater refuses it once it is authenticated).
func TestChaosBlocksInbound(t *testing.T) {
	secret := newSecret(t)
	a, ga := newGatedHost(t, secret)
	c := newHost(t, secret)
	var gotA received
	a.SetHandler(gotA.handle)
	c.AddPeer(info(t, a))
	sendArrives(t, c, a.ID(), &gotA)

	// Replacing the set: c is blocked, the other ID no longer.
	other := newHost(t, secret).ID()
	ga.Block([]peer.ID{other})
	ga.Block([]peer.ID{c.ID()})
	if got := ga.Blocked(); !slices.Equal(got, []peer.ID{c.ID()}) {
		t.Fatalf("Blocked() = %v, want [%s]", got, c.ID())
	}
	if !ga.IsBlocked(c.ID()) || ga.IsBlocked(other) {
		t.Fatalf("IsBlocked: c %v, other %v", ga.IsBlocked(c.ID()), ga.IsBlocked(other))
	}
	waitFor(t, 5*time.Second, "the connection to close", func() bool { return !connected(c, a.ID()) })
	dropsCA := watchDrops(c, a.ID())
	for range 2 {
		sendFails(t, c, a.ID(), dropsCA, &gotA)
	}
	// c's Connect may even succeed: with TLS 1.3 (and the muxer chosen in
	// its handshake) the dialer is done before a has checked who it is.
	// But a closes the connection at once and never counts it as one.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := c.Connect(ctx, []peer.AddrInfo{info(t, a)})
	cancel()
	t.Logf("Connect to a peer that blocks us: err = %v", err)
	waitFor(t, 5*time.Second, "c's connection to a to close", func() bool { return !connected(c, a.ID()) })
	if connected(a, c.ID()) {
		t.Fatal("a has a connection to c, which it blocks")
	}
	ga.Heal()
	sendArrives(t, c, a.ID(), &gotA)
}

func TestChaosHandler(t *testing.T) {
	g := mesh.NewChaosGater()
	srv := mesh.ChaosHandler(g)
	id1, id2 := randomID(t), randomID(t)
	do := func(method, target string) (int, string) {
		t.Helper()
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(method, target, nil))
		return w.Code, w.Body.String()
	}
	blocked := func(body string) []string {
		t.Helper()
		var out struct {
			Blocked []string `json:"blocked"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || out.Blocked == nil {
			t.Fatalf("body %q: %v (want {\"blocked\":[...]})", body, err)
		}
		return out.Blocked
	}
	want := []string{id1.String(), id2.String()}
	slices.Sort(want)

	if code, body := do("GET", "/blocked"); code != http.StatusOK || len(blocked(body)) != 0 {
		t.Fatalf("GET /blocked: %d %s", code, body)
	}
	code, body := do("POST", "/partition?block="+id2.String()+","+id1.String()+",")
	if code != http.StatusOK || !slices.Equal(blocked(body), want) {
		t.Fatalf("POST /partition: %d %s, want %v", code, body, want)
	}
	if !g.IsBlocked(id1) || !g.IsBlocked(id2) {
		t.Fatal("the gater does not block the peers")
	}
	code, body = do("POST", "/partition?block="+id1.String()+",notapeer")
	if code != http.StatusBadRequest || !strings.Contains(body, `"notapeer"`) {
		t.Fatalf("bad peer ID: %d %s, want 400 naming it", code, body)
	}
	if code, body := do("GET", "/blocked"); !slices.Equal(blocked(body), want) {
		t.Fatalf("a bad request changed the set: %d %s", code, body)
	}
	if code, body := do("POST", "/partition"); code != http.StatusBadRequest {
		t.Fatalf("POST /partition without block: %d %s, want 400", code, body)
	}
	if code, body := do("GET", "/partition?block="+id1.String()); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /partition: %d %s, want 405", code, body)
	}
	if code, body := do("POST", "/heal"); code != http.StatusOK || len(blocked(body)) != 0 {
		t.Fatalf("POST /heal: %d %s", code, body)
	}
	if g.IsBlocked(id1) {
		t.Fatal("heal left a peer blocked")
	}
	if code, body := do("POST", "/partition?block="); code != http.StatusOK || len(blocked(body)) != 0 {
		t.Fatalf("POST /partition?block= (nobody): %d %s", code, body)
	}
}

func randomID(t *testing.T) peer.ID {
	t.Helper()
	k, err := mesh.LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
