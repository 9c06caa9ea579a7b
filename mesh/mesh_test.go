package mesh_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/mesh"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Every goroutine of a Host must be gone once Close returns. The
		// exceptions belong to libp2p.New failing to listen (the
		// address-in-use test): fx does not run the OnStop hook of the
		// swarm whose OnStart (Listen) failed, so that swarm's backoff
		// and event goroutines and its peerstore's address book never
		// stop, and libp2p.New returns no host to close. Process-lifetime
		// leaks in libp2p, not ours: mesh hosts that start never leave
		// them, and without those three frames any other leak still shows.
		goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*DialBackoff).background"),
		goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*connectionEventsEmitter).runEmitter"),
		goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem.(*memoryAddrBook).background"),
	)
}

// newSecret returns a fresh cluster secret.
func newSecret(t *testing.T) mesh.Secret {
	t.Helper()
	s, err := mesh.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newHost starts a host listening on a random loopback port and closes it
// when the test ends.
func newHost(t *testing.T, secret mesh.Secret) *mesh.Host {
	t.Helper()
	h, err := mesh.NewHost(mesh.Config{
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Secret: secret,
	})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// info is the AddrInfo other hosts use to reach h.
func info(t *testing.T, h *mesh.Host) peer.AddrInfo {
	t.Helper()
	addrs := h.Addrs()
	if len(addrs) == 0 {
		t.Fatal("host has no addresses")
	}
	ai, err := mesh.ParsePeerAddr(addrs[0].String())
	if err != nil {
		t.Fatalf("ParsePeerAddr(%s): %v", addrs[0], err)
	}
	if ai.ID != h.ID() {
		t.Fatalf("address %s names %s, want %s", addrs[0], ai.ID, h.ID())
	}
	return ai
}

// ---- identity -----------------------------------------------------------

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := t.TempDir()
	k1, err := mesh.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if k1.Type() != crypto.Ed25519 {
		t.Errorf("key type %v, want Ed25519", k1.Type())
	}
	path := filepath.Join(dir, mesh.IdentityFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("identity file not written: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("identity file mode %o, want 600", mode)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("data dir holds %v, want only %s (no temp files left behind)", names, mesh.IdentityFile)
	}

	k2, err := mesh.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	id1, err := peer.IDFromPrivateKey(k1)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := peer.IDFromPrivateKey(k2)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 {
		t.Errorf("second call gave peer ID %s, first %s", id2, id1)
	}

	// A different data dir is a different node.
	k3, err := mesh.LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if id3, _ := peer.IDFromPrivateKey(k3); id3 == id1 {
		t.Errorf("two data dirs share peer ID %s", id1)
	}
}

func TestLoadOrCreateIdentityCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("this is not a protobuf private key")},
		{"truncated", nil}, // filled in below from a real key
		{"empty", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := tc.data
			if tc.name == "truncated" {
				k, err := mesh.LoadOrCreateIdentity(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				raw, err := crypto.MarshalPrivateKey(k)
				if err != nil {
					t.Fatal(err)
				}
				data = raw[:len(raw)/2]
			}
			path := filepath.Join(dir, mesh.IdentityFile)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := mesh.LoadOrCreateIdentity(dir)
			if !errors.Is(err, mesh.ErrCorruptDataDir) {
				t.Fatalf("err = %v, want one wrapping ErrCorruptDataDir", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			// The corrupt key must not have been replaced by a new one.
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(data) {
				t.Error("corrupt identity file was overwritten")
			}
		})
	}
}

// ---- secret -------------------------------------------------------------

func TestSecretRoundTrip(t *testing.T) {
	s := newSecret(t)
	if len(s) != 32 {
		t.Fatalf("secret is %d bytes, want 32", len(s))
	}
	if s2 := newSecret(t); string(s2) == string(s) {
		t.Fatal("two NewSecret calls returned the same secret")
	}
	enc := s.Encode()
	if !strings.HasPrefix(string(enc), "/key/swarm/psk/1.0.0/\n/base16/\n") {
		t.Errorf("Encode() = %q, want swarm.key format", enc)
	}
	got, err := mesh.ParseSecret(enc)
	if err != nil {
		t.Fatalf("ParseSecret(Encode()): %v", err)
	}
	if string(got) != string(s) {
		t.Errorf("round trip changed the secret: %x -> %x", []byte(s), []byte(got))
	}

	path := filepath.Join(t.TempDir(), mesh.SecretFile)
	if err := mesh.WriteSecretFile(path, s); err != nil {
		t.Fatalf("WriteSecretFile: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("secret file mode %o, want 600", mode)
	}
	got, err = mesh.ReadSecretFile(path)
	if err != nil {
		t.Fatalf("ReadSecretFile: %v", err)
	}
	if string(got) != string(s) {
		t.Errorf("file round trip changed the secret")
	}
}

func TestReadSecretFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	_, err := mesh.ReadSecretFile(path)
	if !errors.Is(err, mesh.ErrNoSecret) {
		t.Fatalf("err = %v, want ErrNoSecret", err)
	}
	if errors.Is(err, mesh.ErrBadSecret) {
		t.Errorf("missing file also reported as ErrBadSecret: %v", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestReadSecretFileMalformed(t *testing.T) {
	const hdr = "/key/swarm/psk/1.0.0/\n/base16/\n"
	good := strings.Repeat("ab", 32)
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"wrong header", "/key/swarm/psk/2.0.0/\n/base16/\n" + good + "\n"},
		{"no header", good + "\n"},
		{"wrong encoding", "/key/swarm/psk/1.0.0/\n/base99/\n" + good + "\n"},
		{"short key", hdr + strings.Repeat("ab", 16) + "\n"},
		{"bad hex", hdr + strings.Repeat("zz", 32) + "\n"},
		{"no key", hdr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), mesh.SecretFile)
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := mesh.ReadSecretFile(path)
			if !errors.Is(err, mesh.ErrBadSecret) {
				t.Fatalf("ReadSecretFile = %x, %v; want ErrBadSecret", []byte(s), err)
			}
			if errors.Is(err, mesh.ErrNoSecret) {
				t.Errorf("malformed file reported as missing: %v", err)
			}
		})
	}
	// Sanity check of the table: the well-formed version parses.
	if _, err := mesh.ParseSecret([]byte(hdr + good + "\n")); err != nil {
		t.Fatalf("well-formed secret rejected: %v", err)
	}
}

func TestNewHostNeedsSecret(t *testing.T) {
	for _, s := range []mesh.Secret{nil, make(mesh.Secret, 16)} {
		h, err := mesh.NewHost(mesh.Config{Secret: s})
		if !errors.Is(err, mesh.ErrBadSecret) {
			if h != nil {
				h.Close()
			}
			t.Errorf("NewHost with a %d-byte secret: err = %v, want ErrBadSecret", len(s), err)
		}
	}
}

// ---- addresses ----------------------------------------------------------

const testPeerID = "12D3KooWGRUVh2tL2kqDxRVbdZQ8aQqoXAy7xM4QdtrDdLX6xRGb"

func TestParsePeerAddr(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
		addr     string
	}{
		{"ip4", "/ip4/10.0.0.1/tcp/7946/p2p/" + testPeerID, true, "/ip4/10.0.0.1/tcp/7946"},
		{"ip6", "/ip6/::1/tcp/7946/p2p/" + testPeerID, true, "/ip6/::1/tcp/7946"},
		{"dns", "/dns4/node1.example/tcp/7946/p2p/" + testPeerID, true, "/dns4/node1.example/tcp/7946"},
		{"spaces", "  /ip4/10.0.0.1/tcp/7946/p2p/" + testPeerID + "\n", true, "/ip4/10.0.0.1/tcp/7946"},
		{"empty", "", false, ""},
		{"garbage", "not a multiaddr", false, ""},
		{"host:port", "10.0.0.1:7946", false, ""},
		{"no p2p: ID learned on connect", "/ip4/10.0.0.1/tcp/7946", true, "/ip4/10.0.0.1/tcp/7946"},
		{"dns without p2p", "/dns4/mesh-0.mesh/tcp/7946", true, "/dns4/mesh-0.mesh/tcp/7946"},
		{"no tcp", "/ip4/10.0.0.1/udp/7946", false, ""},
		{"no port", "/ip4/10.0.0.1", false, ""},
		{"extra part without p2p", "/ip4/10.0.0.1/tcp/7946/ws", false, ""},
		{"bad peer id", "/ip4/10.0.0.1/tcp/7946/p2p/notapeerid", false, ""},
		{"bad port", "/ip4/10.0.0.1/tcp/99999/p2p/" + testPeerID, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ai, err := mesh.ParsePeerAddr(tc.in)
			if !tc.ok {
				if !errors.Is(err, mesh.ErrBadAddr) {
					t.Fatalf("ParsePeerAddr(%q) = %v, %v; want ErrBadAddr", tc.in, ai, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePeerAddr(%q): %v", tc.in, err)
			}
			wantID := testPeerID
			if !strings.Contains(tc.in, "/p2p/") {
				wantID = ""
			}
			if ai.ID.String() != wantID {
				t.Errorf("ID = %q, want %q", ai.ID, wantID)
			}
			if len(ai.Addrs) != 1 || ai.Addrs[0].String() != tc.addr {
				t.Errorf("Addrs = %v, want [%s]", ai.Addrs, tc.addr)
			}
		})
	}
}

func TestParseListenAddr(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"any ip4", "/ip4/0.0.0.0/tcp/7946", true},
		{"loopback port 0", "/ip4/127.0.0.1/tcp/0", true},
		{"ip6", "/ip6/::/tcp/7946", true},
		{"spaces", " /ip4/0.0.0.0/tcp/7946 ", true},
		{"empty", "", false},
		{"garbage", "0.0.0.0:7946", false},
		{"missing tcp", "/ip4/0.0.0.0", false},
		{"udp", "/ip4/0.0.0.0/udp/7946/quic-v1", false},
		{"bad port", "/ip4/0.0.0.0/tcp/notaport", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := mesh.ParseListenAddr(tc.in)
			if !tc.ok {
				if !errors.Is(err, mesh.ErrBadAddr) {
					t.Fatalf("ParseListenAddr(%q) = %v, %v; want ErrBadAddr", tc.in, a, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseListenAddr(%q): %v", tc.in, err)
			}
			if a.String() != strings.TrimSpace(tc.in) {
				t.Errorf("got %s, want %s", a, strings.TrimSpace(tc.in))
			}
		})
	}
}

// ---- wire ---------------------------------------------------------------

type testMsg struct {
	Seq  int               `msgpack:"seq"`
	Text string            `msgpack:"text"`
	Tags map[string]string `msgpack:"tags"`
	Blob []byte            `msgpack:"blob"`
}

type unregisteredMsg struct{ X int }

type bulkMsg struct {
	Blob []byte `msgpack:"blob"`
}

func init() {
	mesh.RegisterMessage[testMsg]("mesh_test.msg")
	mesh.RegisterBulkMessage[bulkMsg]("mesh_test.bulk")
}

func TestWireRoundTrip(t *testing.T) {
	in := &testMsg{Seq: 42, Text: "héllo", Tags: map[string]string{"a": "b"}, Blob: []byte{0, 1, 2, 255}}
	name, body, err := mesh.EncodeMessage(in)
	if err != nil {
		t.Fatalf("EncodeMessage: %v", err)
	}
	if name != "mesh_test.msg" {
		t.Errorf("name = %q, want mesh_test.msg", name)
	}
	out, err := mesh.DecodeMessage(name, body)
	if err != nil {
		t.Fatalf("DecodeMessage: %v", err)
	}
	got, ok := out.(*testMsg)
	if !ok {
		t.Fatalf("DecodeMessage returned %T, want *testMsg", out)
	}
	if got.Seq != in.Seq || got.Text != in.Text || got.Tags["a"] != "b" || string(got.Blob) != string(in.Blob) {
		t.Errorf("round trip: got %+v, want %+v", got, in)
	}
	// Registering the same type under the same name again is allowed.
	mesh.RegisterMessage[testMsg]("mesh_test.msg")
}

func TestWireErrors(t *testing.T) {
	t.Run("encode unregistered", func(t *testing.T) {
		_, _, err := mesh.EncodeMessage(&unregisteredMsg{X: 1})
		if !errors.Is(err, mesh.ErrUnknownMessage) {
			t.Errorf("err = %v, want ErrUnknownMessage", err)
		}
	})
	t.Run("encode non-pointer", func(t *testing.T) {
		_, _, err := mesh.EncodeMessage(testMsg{Seq: 1})
		if err == nil {
			t.Fatal("encoding a non-pointer succeeded")
		}
		if !strings.Contains(err.Error(), "pointer") {
			t.Errorf("error %q does not say to send a pointer", err)
		}
	})
	t.Run("encode nil", func(t *testing.T) {
		if _, _, err := mesh.EncodeMessage(nil); err == nil {
			t.Fatal("encoding nil succeeded")
		}
	})
	t.Run("decode unknown", func(t *testing.T) {
		_, err := mesh.DecodeMessage("mesh_test.nosuch", []byte{0x80})
		if !errors.Is(err, mesh.ErrUnknownMessage) {
			t.Errorf("err = %v, want ErrUnknownMessage", err)
		}
	})
	t.Run("decode garbage body", func(t *testing.T) {
		_, err := mesh.DecodeMessage("mesh_test.msg", []byte{0xc1})
		if err == nil || errors.Is(err, mesh.ErrUnknownMessage) {
			t.Errorf("err = %v, want a decode error", err)
		}
	})
	t.Run("register conflict panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("registering another type under a taken name did not panic")
			}
		}()
		mesh.RegisterMessage[unregisteredMsg]("mesh_test.msg")
	})
}

// ---- hosts --------------------------------------------------------------

// received collects envelopes delivered to a handler.
type received struct {
	mu   sync.Mutex
	from []peer.ID
	envs []*mesh.Envelope
}

func (r *received) handle(from peer.ID, env *mesh.Envelope) {
	r.mu.Lock()
	r.from = append(r.from, from)
	r.envs = append(r.envs, env)
	r.mu.Unlock()
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.envs)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSendInOrder(t *testing.T) {
	secret := newSecret(t)
	a, b := newHost(t, secret), newHost(t, secret)
	var got received
	b.SetHandler(got.handle)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := a.Connect(ctx, []peer.AddrInfo{info(t, b)})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if p.ID != b.ID() {
		t.Fatalf("Connect answered by %s, want %s", p.ID, b.ID())
	}

	// More than the outbound queue holds: Send must wait for room rather
	// than drop (a client submitting a large graph relies on it).
	const n = 40_000
	sender := &mesh.PIDRef{Node: a.ID().String(), ID: "src"}
	for i := range n {
		name, body, err := mesh.EncodeMessage(&testMsg{Seq: i, Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		env := &mesh.Envelope{Target: "dst", Sender: sender, Type: name, Body: body}
		if err = a.Send(b.ID(), env); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	waitFor(t, 20*time.Second, "all messages to arrive", func() bool { return got.len() >= n })

	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.envs) != n {
		t.Fatalf("received %d envelopes, want %d", len(got.envs), n)
	}
	for i, env := range got.envs {
		if got.from[i] != a.ID() {
			t.Fatalf("envelope %d from %s, want %s", i, got.from[i], a.ID())
		}
		if env.Target != "dst" || env.Sender == nil || *env.Sender != *sender {
			t.Fatalf("envelope %d: target %q sender %v", i, env.Target, env.Sender)
		}
		msg, err := mesh.DecodeMessage(env.Type, env.Body)
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		if seq := msg.(*testMsg).Seq; seq != i {
			t.Fatalf("envelope %d carries seq %d: out of order", i, seq)
		}
	}
}

// Bulk messages travel on their own stream: a control message sent after
// one arrives even while the bulk message is still being handled (a data
// transfer never delays heartbeats).
func TestBulkMessagesDoNotDelayControl(t *testing.T) {
	secret := newSecret(t)
	a, b := newHost(t, secret), newHost(t, secret)
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	var got received
	b.SetHandler(func(from peer.ID, env *mesh.Envelope) {
		if env.Type == "mesh_test.bulk" {
			<-release // the data is still being handled
		}
		got.handle(from, env)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Connect(ctx, []peer.AddrInfo{info(t, b)}); err != nil {
		t.Fatal(err)
	}
	send := func(msg any) {
		name, body, err := mesh.EncodeMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Send(b.ID(), &mesh.Envelope{Target: "dst", Type: name, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	send(&bulkMsg{Blob: make([]byte, 4<<20)})
	send(&testMsg{Seq: 1})
	waitFor(t, 10*time.Second, "the control message while the bulk one is handled", func() bool { return got.len() == 1 })
	close(release)
	waitFor(t, 10*time.Second, "the bulk message", func() bool { return got.len() == 2 })
}

// TestSendBothWays checks that each side can send to the other over the
// same connection, and that each handler sees the right sender.
func TestSendBothWays(t *testing.T) {
	secret := newSecret(t)
	a, b := newHost(t, secret), newHost(t, secret)
	var gotA, gotB received
	a.SetHandler(gotA.handle)
	b.SetHandler(gotB.handle)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Connect(ctx, []peer.AddrInfo{info(t, b)}); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := a.Send(b.ID(), &mesh.Envelope{Target: "to-b", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	// b learned a's address from the inbound connection.
	if err := b.Send(a.ID(), &mesh.Envelope{Target: "to-a", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both messages", func() bool { return gotA.len() == 1 && gotB.len() == 1 })
	if gotB.envs[0].Target != "to-b" || gotB.from[0] != a.ID() {
		t.Errorf("b got %q from %s", gotB.envs[0].Target, gotB.from[0])
	}
	if gotA.envs[0].Target != "to-a" || gotA.from[0] != b.ID() {
		t.Errorf("a got %q from %s", gotA.envs[0].Target, gotA.from[0])
	}
}

func TestConnectWrongSecret(t *testing.T) {
	t.Parallel()
	a, b := newHost(t, newSecret(t)), newHost(t, newSecret(t))
	var got received
	b.SetHandler(got.handle)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	target := info(t, b)
	_, err := a.Connect(ctx, []peer.AddrInfo{target})
	if err == nil {
		t.Fatal("Connect with a different secret succeeded")
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Connect took %v to give up on a 3 s context", elapsed)
	}
	if !errors.Is(err, mesh.ErrHandshake) {
		t.Fatalf("err = %v, want one wrapping ErrHandshake", err)
	}
	if errors.Is(err, mesh.ErrUnreachable) {
		t.Errorf("err also wraps ErrUnreachable: %v", err)
	}
	if !strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q does not mention the secret", err)
	}
	if !strings.Contains(err.Error(), target.Addrs[0].String()) {
		t.Errorf("error %q does not name the address tried %s", err, target.Addrs[0])
	}
	if c := a.Network().Connectedness(b.ID()); c.String() == "Connected" {
		t.Errorf("a is %v to b despite the wrong secret", c)
	}
	if got.len() != 0 {
		t.Errorf("b received %d envelopes from a peer with another secret", got.len())
	}
}

// TestConnectHandshakeFails covers what a peer with another secret does,
// deterministically: its side of the private-network layer reads noise, so
// it either drops the connection at once or waits for more bytes that never
// make sense. A plain TCP listener reproduces each case every time.
func TestConnectHandshakeFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		serve   func(c net.Conn)
	}{
		// The handshake stalls: only libp2p's per-address dial timeout can
		// tell this from an unreachable host, so the caller's context must
		// outlast it (3 s, as when a node joins).
		{"peer stalls", 3 * time.Second, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }},
		{"peer hangs up", time.Second, func(c net.Conn) { c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var conns sync.Map
			wg.Go(func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					conns.Store(c, true)
					wg.Go(func() { tc.serve(c) })
				}
			})
			defer func() {
				l.Close()
				conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
				wg.Wait()
			}()

			a := newHost(t, newSecret(t))
			k, err := mesh.LoadOrCreateIdentity(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			id, err := peer.IDFromPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			addr := "/ip4/127.0.0.1/tcp/" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
			target, err := mesh.ParsePeerAddr(addr + "/p2p/" + id.String())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			_, err = a.Connect(ctx, []peer.AddrInfo{target})
			if !errors.Is(err, mesh.ErrHandshake) || errors.Is(err, mesh.ErrUnreachable) {
				t.Fatalf("err = %v, want ErrHandshake (and not ErrUnreachable)", err)
			}
			if !strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), addr) {
				t.Errorf("error %q does not mention the secret and the address %s", err, addr)
			}
		})
	}
}

// closedPort returns a loopback TCP port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	return "/ip4/127.0.0.1/tcp/" + strconv.Itoa(addr.Port)
}

func TestConnectUnreachable(t *testing.T) {
	t.Parallel()
	a := newHost(t, newSecret(t))
	// A peer ID that exists nowhere, at a port nothing listens on.
	k, err := mesh.LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	addr := closedPort(t)
	target, err := mesh.ParsePeerAddr(addr + "/p2p/" + id.String())
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = a.Connect(ctx, []peer.AddrInfo{target})
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Connect took %v to give up on a 500 ms context", elapsed)
	}
	if !errors.Is(err, mesh.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if errors.Is(err, mesh.ErrHandshake) {
		t.Errorf("err also wraps ErrHandshake: %v", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the address tried %s", err, addr)
	}
	// Connect retries for the whole context; every retry must really dial,
	// so the error says what the peer's address did, not "dial backoff".
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say the connection was refused", err)
	}
}

// TestConnectRetriesUntilPeerStarts: a failed Connect must not keep the next
// one from dialing (libp2p backs off from a failed address for 5 s or more).
func TestConnectRetriesUntilPeerStarts(t *testing.T) {
	secret := newSecret(t)
	a := newHost(t, secret)
	key, err := mesh.LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	addr := closedPort(t)
	target, err := mesh.ParsePeerAddr(addr + "/p2p/" + id.String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = a.Connect(ctx, []peer.AddrInfo{target})
	cancel()
	if !errors.Is(err, mesh.ErrUnreachable) {
		t.Fatalf("Connect before the peer runs: err = %v, want ErrUnreachable", err)
	}

	b, err := mesh.NewHost(mesh.Config{Listen: []ma.Multiaddr{ma.StringCast(addr)}, Key: key, Secret: secret})
	if err != nil {
		t.Fatalf("start the peer on %s: %v", addr, err)
	}
	defer b.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := a.Connect(ctx, []peer.AddrInfo{target}); err != nil {
		t.Fatalf("Connect once the peer runs: %v", err)
	}
}

// TestConnectWrongPeerID: the address answers, with the same secret, but as
// another node.
func TestConnectWrongPeerID(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	a, b := newHost(t, secret), newHost(t, secret)
	k, err := mesh.LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	target := peer.AddrInfo{ID: other, Addrs: info(t, b).Addrs}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = a.Connect(ctx, []peer.AddrInfo{target})
	if !errors.Is(err, mesh.ErrUnreachable) || errors.Is(err, mesh.ErrHandshake) {
		t.Fatalf("err = %v, want ErrUnreachable (and not ErrHandshake)", err)
	}
	if !strings.Contains(err.Error(), "different node") {
		t.Errorf("error %q does not say another node answers", err)
	}
}

func TestConnectNoPeers(t *testing.T) {
	a := newHost(t, newSecret(t))
	_, err := a.Connect(context.Background(), nil)
	if !errors.Is(err, mesh.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestNewHostAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	h, err := mesh.NewHost(mesh.Config{Listen: []ma.Multiaddr{addr}, Secret: newSecret(t)})
	if err == nil {
		h.Close()
		t.Fatalf("NewHost on %s, which is in use, succeeded", addr)
	}
	if !errors.Is(err, mesh.ErrAddrInUse) {
		t.Fatalf("err = %v, want ErrAddrInUse", err)
	}

	// Two mesh hosts on the same port.
	first := newHost(t, newSecret(t))
	taken := first.Addrs()[0].Decapsulate(ma.StringCast("/p2p/" + first.ID().String()))
	h, err = mesh.NewHost(mesh.Config{Listen: []ma.Multiaddr{taken}, Secret: newSecret(t)})
	if err == nil {
		h.Close()
		t.Fatalf("second NewHost on %s succeeded", taken)
	}
	if !errors.Is(err, mesh.ErrAddrInUse) {
		t.Fatalf("second host: err = %v, want ErrAddrInUse", err)
	}
}

func TestHostIdentityAndAddrs(t *testing.T) {
	key, err := mesh.LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := mesh.NewHost(mesh.Config{
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Key:    key,
		Secret: newSecret(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.ID() != want {
		t.Errorf("host ID %s, want %s from the key", h.ID(), want)
	}
	for _, a := range h.Addrs() {
		if !strings.HasSuffix(a.String(), "/p2p/"+want.String()) {
			t.Errorf("address %s does not end in /p2p/%s", a, want)
		}
	}
}

func TestCloseIdempotent(t *testing.T) {
	secret := newSecret(t)
	b := newHost(t, secret)
	a, err := mesh.NewHost(mesh.Config{
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Secret: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Give a some goroutines to stop: a connection, an outbound sender and
	// an inbound stream on b.
	var got received
	b.SetHandler(got.handle)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Connect(ctx, []peer.AddrInfo{info(t, b)}); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := a.Send(b.ID(), &mesh.Envelope{Target: "x", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the message", func() bool { return got.len() == 1 })

	for i := range 3 {
		if err := a.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if err := a.Send(b.ID(), &mesh.Envelope{Target: "x", Type: "t"}); err == nil {
		t.Error("Send on a closed host succeeded")
	}
	// Concurrent Close calls are safe too.
	c, err := mesh.NewHost(mesh.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := c.Close(); err != nil {
				t.Errorf("concurrent Close: %v", err)
			}
		})
	}
	wg.Wait()
	// goleak in TestMain checks that nothing outlives Close.
}
