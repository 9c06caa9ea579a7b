package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/mesh"
)

func TestMain(m *testing.M) {
	// No exceptions: raft, its transport, the bolt store and the libp2p
	// hosts all stop in Node.Close and Host.Close.
	goleak.VerifyTestMain(m)
}

// ---- FSM ----------------------------------------------------------------

var (
	t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = t0.Add(time.Minute)
	t2 = t0.Add(2 * time.Minute)
)

func encode(t *testing.T, c Command) []byte {
	t.Helper()
	data, err := msgpack.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// applyAll feeds commands to f as raft would and returns each response.
func applyAll(t *testing.T, f *fsm, cmds ...Command) []any {
	t.Helper()
	var out []any
	for i, c := range cmds {
		out = append(out, f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: encode(t, c)}))
	}
	return out
}

func member(id string, addrs ...string) *Member {
	return &Member{ID: id, Name: "node-" + id, Addrs: addrs, Cores: 4, Memory: 8 << 30}
}

func TestFSMApply(t *testing.T) {
	type want struct {
		id      string
		state   MemberState
		joined  time.Time
		changed time.Time
		addrs   []string
	}
	for _, tc := range []struct {
		name    string
		cmds    []Command
		errs    []error // per command; nil means success, errAny means any error
		voters  int
		members []want
	}{
		{
			name:   "init",
			cmds:   []Command{{Op: OpInit, Voters: 3, At: t0}},
			errs:   []error{nil},
			voters: 3,
		},
		{
			name:    "join",
			cmds:    []Command{{Op: OpJoin, Member: member("a", "/ip4/10.0.0.1/tcp/1"), At: t0}},
			errs:    []error{nil},
			members: []want{{"a", Alive, t0, t0, []string{"/ip4/10.0.0.1/tcp/1"}}},
		},
		{
			name: "rejoin keeps joined time and takes new addrs",
			cmds: []Command{
				{Op: OpJoin, Member: member("a", "/ip4/10.0.0.1/tcp/1"), At: t0},
				{Op: OpState, ID: "a", State: Dead, At: t1},
				{Op: OpJoin, Member: member("a", "/ip4/10.0.0.2/tcp/1"), At: t2},
			},
			errs:    []error{nil, nil, nil},
			members: []want{{"a", Alive, t0, t2, []string{"/ip4/10.0.0.2/tcp/1"}}},
		},
		{
			name: "state change",
			cmds: []Command{
				{Op: OpJoin, Member: member("a"), At: t0},
				{Op: OpJoin, Member: member("b"), At: t0},
				{Op: OpState, ID: "b", State: Left, At: t1},
			},
			errs: []error{nil, nil, nil},
			members: []want{
				{"a", Alive, t0, t0, nil},
				{"b", Left, t0, t1, nil},
			},
		},
		{
			name: "same state keeps changed time",
			cmds: []Command{
				{Op: OpJoin, Member: member("a"), At: t0},
				{Op: OpState, ID: "a", State: Dead, At: t1},
				{Op: OpState, ID: "a", State: Dead, At: t2},
			},
			errs:    []error{nil, nil, nil},
			members: []want{{"a", Dead, t0, t1, nil}},
		},
		{
			name: "state of unknown member",
			cmds: []Command{
				{Op: OpJoin, Member: member("a"), At: t0},
				{Op: OpState, ID: "ghost", State: Dead, At: t1},
			},
			errs:    []error{nil, ErrUnknownMember},
			members: []want{{"a", Alive, t0, t0, nil}},
		},
		{
			name: "join without member",
			cmds: []Command{{Op: OpJoin, At: t0}},
			errs: []error{errAny},
		},
		{
			name: "unknown op",
			cmds: []Command{{Op: "explode", At: t0}},
			errs: []error{errAny},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []Membership
			f := newFSM(func(m Membership) { calls = append(calls, m) })
			resp := applyAll(t, f, tc.cmds...)
			okCount := 0
			for i, r := range resp {
				err, _ := r.(error)
				if r != nil && err == nil {
					t.Fatalf("command %d returned %T %v, want nil or an error", i, r, r)
				}
				switch want := tc.errs[i]; {
				case want == nil && err != nil:
					t.Errorf("command %d (%s): %v", i, tc.cmds[i].Op, err)
				case want == errAny && err == nil, want != nil && want != errAny && !errors.Is(err, want):
					t.Errorf("command %d (%s): err = %v, want %v", i, tc.cmds[i].Op, err, want)
				}
				if err == nil {
					okCount++
				}
			}
			if len(calls) != okCount {
				t.Errorf("onChange called %d times, want once per successful command (%d)", len(calls), okCount)
			}
			got := f.Membership()
			if got.Voters != tc.voters {
				t.Errorf("voters = %d, want %d", got.Voters, tc.voters)
			}
			if len(got.Members) != len(tc.members) {
				t.Errorf("%d members, want %d: %v", len(got.Members), len(tc.members), got.Members)
			}
			for _, w := range tc.members {
				m, ok := got.Members[w.id]
				if !ok {
					t.Errorf("member %s missing", w.id)
					continue
				}
				if m.ID != w.id || m.Name != "node-"+w.id || m.Cores != 4 || m.Memory != 8<<30 {
					t.Errorf("member %s: %+v", w.id, m)
				}
				if m.State != w.state {
					t.Errorf("member %s state %s, want %s", w.id, m.State, w.state)
				}
				if !m.Joined.Equal(w.joined) {
					t.Errorf("member %s joined %v, want %v", w.id, m.Joined, w.joined)
				}
				if !m.Changed.Equal(w.changed) {
					t.Errorf("member %s changed %v, want %v", w.id, m.Changed, w.changed)
				}
				if !slices.Equal(m.Addrs, w.addrs) {
					t.Errorf("member %s addrs %v, want %v", w.id, m.Addrs, w.addrs)
				}
			}
			if len(calls) > 0 {
				last := calls[len(calls)-1]
				if len(last.Members) != len(got.Members) || last.Voters != got.Voters {
					t.Errorf("last onChange saw %+v, state is %+v", last, got)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

func TestFSMApplyGarbage(t *testing.T) {
	called := false
	f := newFSM(func(Membership) { called = true })
	r := f.Apply(&raft.Log{Index: 7, Data: []byte{0xc1, 0xff, 0x00}})
	err, ok := r.(error)
	if !ok || err == nil {
		t.Fatalf("Apply(garbage) = %v, want an error", r)
	}
	if !strings.Contains(err.Error(), "7") {
		t.Errorf("error %q does not name the log index", err)
	}
	if called {
		t.Error("onChange called for a command that failed")
	}
}

// The state handed out (Membership, onChange) is a deep copy: changing it
// does not change the FSM.
func TestFSMIsolation(t *testing.T) {
	var seen Membership
	f := newFSM(func(m Membership) { seen = m })
	applyAll(t, f, Command{Op: OpJoin, Member: member("a", "/ip4/10.0.0.1/tcp/1"), At: t0})

	got := f.Membership()
	got.Members["a"].Addrs[0] = "mutated"
	got.Members["a"].State = Dead
	got.Members["b"] = member("b")
	seen.Members["a"].Addrs[0] = "mutated"
	seen.Members["a"].State = Dead

	again := f.Membership()
	a := again.Members["a"]
	if len(again.Members) != 1 || a.Name != "node-a" || a.State != Alive || a.Addrs[0] != "/ip4/10.0.0.1/tcp/1" {
		t.Errorf("FSM state changed through a copy: %+v", a)
	}
}

func TestMembershipSorted(t *testing.T) {
	m := Membership{Members: map[string]*Member{
		"c": {ID: "c", Joined: t0},
		"b": {ID: "b", Joined: t1},
		"a": {ID: "a", Joined: t0},
		"d": {ID: "d", Joined: t2},
	}}
	var ids []string
	for _, mem := range m.Sorted() {
		ids = append(ids, mem.ID)
	}
	if want := []string{"a", "c", "b", "d"}; !slices.Equal(ids, want) {
		t.Errorf("Sorted() = %v, want %v", ids, want)
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := newFSM(nil)
	applyAll(t, f,
		Command{Op: OpInit, Voters: 5, At: t0},
		Command{Op: OpJoin, Member: member("a", "/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.1/tcp/2"), At: t0},
		Command{Op: OpJoin, Member: member("b"), At: t1},
		Command{Op: OpState, ID: "b", State: Dead, At: t2},
	)
	want := f.Membership()

	// Persist to and read back from raft's real file snapshot store.
	store, err := raft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	// Later commands must not leak into a snapshot already taken.
	applyAll(t, f, Command{Op: OpJoin, Member: member("late"), At: t2})

	sink, err := store.Create(raft.SnapshotVersionMax, 4, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	snap.Release()
	metas, err := store.List()
	if err != nil || len(metas) != 1 {
		t.Fatalf("List = %v, %v; want one snapshot", metas, err)
	}
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}

	var restored []Membership
	g := newFSM(func(m Membership) { restored = append(restored, m) })
	applyAll(t, g, Command{Op: OpJoin, Member: member("stale"), At: t0}) // replaced by the restore
	restored = nil
	if err := g.Restore(rc); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	got := g.Membership()
	if got.Voters != want.Voters || len(got.Members) != len(want.Members) {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	for id, w := range want.Members {
		m := got.Members[id]
		if m == nil {
			t.Errorf("member %s not restored", id)
			continue
		}
		if m.ID != w.ID || m.Name != w.Name || m.State != w.State || m.Cores != w.Cores || m.Memory != w.Memory ||
			!m.Joined.Equal(w.Joined) || !m.Changed.Equal(w.Changed) || !slices.Equal(m.Addrs, w.Addrs) {
			t.Errorf("member %s restored as %+v, want %+v", id, m, w)
		}
	}
	if len(restored) != 1 || len(restored[0].Members) != len(want.Members) {
		t.Errorf("onChange after Restore: %v", restored)
	}
	// The restored FSM keeps working.
	if r := applyAll(t, g, Command{Op: OpState, ID: "a", State: Left, At: t2})[0]; r != nil {
		t.Errorf("apply after restore: %v", r)
	}
}

func TestFSMRestoreEdgeCases(t *testing.T) {
	t.Run("empty state", func(t *testing.T) {
		data, err := msgpack.Marshal(Membership{Voters: 1})
		if err != nil {
			t.Fatal(err)
		}
		f := newFSM(nil)
		if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			t.Fatal(err)
		}
		if f.Membership().Members == nil {
			t.Fatal("restored a nil member map")
		}
		// A nil map would panic here.
		if r := applyAll(t, f, Command{Op: OpJoin, Member: member("a"), At: t0})[0]; r != nil {
			t.Fatalf("join after restoring an empty state: %v", r)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		f := newFSM(nil)
		applyAll(t, f, Command{Op: OpJoin, Member: member("a"), At: t0})
		if err := f.Restore(io.NopCloser(strings.NewReader("\xc1 not msgpack"))); err == nil {
			t.Fatal("restoring garbage succeeded")
		}
		if _, ok := f.Membership().Members["a"]; !ok {
			t.Error("a failed restore wiped the state")
		}
	})
}

// ---- Raft over libp2p ----------------------------------------------------

const (
	heartbeat = 200 * time.Millisecond
	election  = 300 * time.Millisecond
)

// testNode is a mesh host and a Raft node on one data dir.
type testNode struct {
	dir     string
	host    *mesh.Host
	node    *Node
	changes atomic.Int64
	once    sync.Once
}

func (n *testNode) id() string { return n.host.ID().String() }

// close stops the node, then its host; safe to call twice.
func (n *testNode) close(t *testing.T) {
	n.once.Do(func() {
		if n.node != nil {
			if err := n.node.Close(); err != nil {
				t.Errorf("close node %s: %v", n.dir, err)
			}
		}
		if err := n.host.Close(); err != nil {
			t.Errorf("close host %s: %v", n.dir, err)
		}
	})
}

// startHost starts a host with the identity kept in dir.
func startHost(t *testing.T, dir string, secret mesh.Secret) *testNode {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := mesh.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := mesh.NewHost(mesh.Config{
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Key:    key,
		Secret: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{dir: dir, host: h}
	t.Cleanup(func() { n.close(t) })
	return n
}

// startNode starts a host and opens a Raft node on dir.
func startNode(t *testing.T, dir string, secret mesh.Secret) *testNode {
	t.Helper()
	n := startHost(t, dir, secret)
	node, err := Open(Config{
		Host:             n.host,
		DataDir:          dir,
		HeartbeatTimeout: heartbeat,
		ElectionTimeout:  election,
		OnMembership:     func(Membership) { n.changes.Add(1) },
	})
	if err != nil {
		t.Fatalf("Open %s: %v", dir, err)
	}
	n.node = node
	return n
}

// introduce puts every node's address in every other node's peerstore and
// connects them, as joining nodes do before they talk Raft.
func introduce(t *testing.T, nodes ...*testNode) {
	t.Helper()
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			info := peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.LibP2P().Addrs()}
			a.host.AddPeer(info)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := a.host.Connect(ctx, []peer.AddrInfo{info})
			cancel()
			if err != nil {
				t.Fatalf("connect %s to %s: %v", a.dir, b.dir, err)
			}
		}
	}
}

func newSecret(t *testing.T) mesh.Secret {
	t.Helper()
	s, err := mesh.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaderOf waits until exactly one of nodes leads, and returns it.
func leaderOf(t *testing.T, nodes ...*testNode) *testNode {
	t.Helper()
	var leader *testNode
	eventually(t, 10*time.Second, "a leader", func() error {
		leader = nil
		for _, n := range nodes {
			if n.node.IsLeader() {
				if leader != nil {
					return errors.New("two leaders")
				}
				leader = n
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		// Everyone agrees.
		for _, n := range nodes {
			if l, ok := n.node.Leader(); !ok || l != leader.host.ID() {
				return errors.New(n.id() + " does not know the leader yet")
			}
		}
		return nil
	})
	return leader
}

// apply applies c on whichever node leads, retrying through elections.
func apply(t *testing.T, c Command, nodes ...*testNode) {
	t.Helper()
	eventually(t, 10*time.Second, "apply "+string(c.Op), func() error {
		for _, n := range nodes {
			if n.node.IsLeader() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				return n.node.Apply(ctx, c)
			}
		}
		return ErrNotLeader
	})
}

// converged waits until every node's membership matches want.
func converged(t *testing.T, want map[string]MemberState, voters int, nodes ...*testNode) {
	t.Helper()
	eventually(t, 10*time.Second, "membership to converge", func() error {
		for _, n := range nodes {
			m := n.node.Membership()
			if m.Voters != voters {
				return errors.New(n.id() + ": voters differ")
			}
			if len(m.Members) != len(want) {
				return errors.New(n.id() + ": member count differs")
			}
			for id, st := range want {
				if mem := m.Members[id]; mem == nil || mem.State != st {
					return errors.New(n.id() + ": member " + id + " missing or in another state")
				}
			}
		}
		return nil
	})
}

func joinCmd(n *testNode) Command {
	var addrs []string
	for _, a := range n.host.Addrs() {
		addrs = append(addrs, a.String())
	}
	return Command{Op: OpJoin, Member: &Member{ID: n.id(), Name: filepath.Base(n.dir), Addrs: addrs, Cores: 1}}
}

func TestRaftCluster(t *testing.T) {
	secret := newSecret(t)
	base := t.TempDir()
	var nodes []*testNode
	for _, name := range []string{"n0", "n1", "n2"} {
		dir := filepath.Join(base, name)
		nodes = append(nodes, startNode(t, dir, secret))
	}
	introduce(t, nodes...)
	for _, n := range nodes {
		if has, err := n.node.HasExistingState(); err != nil || has {
			t.Fatalf("fresh node %s: HasExistingState = %v, %v", n.dir, has, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[0].node.Bootstrap(ctx, 3); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if !nodes[0].node.IsLeader() {
		t.Fatal("the bootstrapped node does not lead")
	}
	for _, n := range nodes[1:] {
		// Until the new voter answers, the leader may lose its lease (a
		// quorum of two it cannot reach) and step down: retry on whoever
		// leads then, as the membership layer does.
		eventually(t, 10*time.Second, "AddVoter "+n.dir, func() error {
			for _, l := range nodes {
				if l.node.IsLeader() {
					return l.node.AddVoter(n.id(), 5*time.Second)
				}
			}
			return ErrNotLeader
		})
	}
	for _, n := range nodes {
		apply(t, joinCmd(n), nodes...)
	}
	want := map[string]MemberState{}
	for _, n := range nodes {
		want[n.id()] = Alive
	}
	converged(t, want, 3, nodes...)

	leader := leaderOf(t, nodes...)
	for _, n := range nodes {
		servers, err := n.node.Servers()
		if err != nil {
			t.Fatal(err)
		}
		if len(servers) != 3 {
			t.Errorf("%s: configuration %v, want 3 servers", n.dir, servers)
		}
		for _, s := range servers {
			if !s.Voter {
				t.Errorf("%s: %s is not a voter", n.dir, s.ID)
			}
		}
		if n.changes.Load() < 4 { // init + 3 joins
			t.Errorf("%s: OnMembership called %d times, want at least 4", n.dir, n.changes.Load())
		}
		if n.node.CommitIndex() == 0 {
			t.Errorf("%s: commit index 0", n.dir)
		}
	}
	for _, n := range nodes {
		if n == leader {
			continue
		}
		// (Voters: 3 changes nothing should an election make n the leader
		// meanwhile, which the IsLeader check then forgives.)
		if err := n.node.Apply(ctx, Command{Op: OpInit, Voters: 3}); !errors.Is(err, ErrNotLeader) && !n.node.IsLeader() {
			t.Errorf("Apply on follower %s: err = %v, want ErrNotLeader", n.dir, err)
		}
	}
	if err := leader.node.Apply(ctx, Command{Op: OpState, ID: "ghost", State: Dead}); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("Apply for an unknown member: err = %v, want ErrUnknownMember", err)
	}

	// Failover: stop the leader; the other two elect one of them.
	oldTerm := nodes[1].node.Term()
	leader.close(t)
	rest := slices.DeleteFunc(slices.Clone(nodes), func(n *testNode) bool { return n == leader })
	newLeader := leaderOf(t, rest...)
	if newLeader.node.Term() <= oldTerm {
		t.Errorf("new leader's term %d, not above the old %d", newLeader.node.Term(), oldTerm)
	}
	apply(t, Command{Op: OpState, ID: leader.id(), State: Dead}, rest...)
	want[leader.id()] = Dead
	converged(t, want, 3, rest...)

	// Persistence: stop everything, then restart the two survivors from
	// their data dirs. Nothing bootstraps them; they find the old
	// configuration and log on disk, elect a leader and replay the log.
	for _, n := range rest {
		n.close(t)
	}
	var reopened []*testNode
	for _, n := range rest {
		reopened = append(reopened, startNode(t, n.dir, secret))
	}
	introduce(t, reopened...)
	for _, n := range reopened {
		has, err := n.node.HasExistingState()
		if err != nil || !has {
			t.Fatalf("reopened %s: HasExistingState = %v, %v; want true", n.dir, has, err)
		}
	}
	converged(t, want, 3, reopened...)
	leaderOf(t, reopened...)
	for _, n := range reopened {
		servers, err := n.node.Servers()
		if err != nil {
			t.Fatal(err)
		}
		if len(servers) != 3 {
			t.Errorf("reopened %s: configuration %v, want the 3 servers", n.dir, servers)
		}
	}
	apply(t, Command{Op: OpState, ID: leader.id(), State: Left}, reopened...)
	want[leader.id()] = Left
	converged(t, want, 3, reopened...)
}

// TestRaftSingleNodeRestart: a one-voter mesh restarts on its own and gets
// its state back from disk.
func TestRaftSingleNodeRestart(t *testing.T) {
	secret := newSecret(t)
	dir := t.TempDir()
	n := startNode(t, dir, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.node.Bootstrap(ctx, 1); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	a, b := member("a", "/ip4/10.0.0.1/tcp/1"), member("b")
	for _, c := range []Command{
		{Op: OpJoin, Member: a},
		{Op: OpJoin, Member: b},
		{Op: OpState, ID: "b", State: Dead},
	} {
		if err := n.node.Apply(ctx, c); err != nil {
			t.Fatalf("Apply %s: %v", c.Op, err)
		}
	}
	before := n.node.Membership()
	id := n.id()
	n.close(t)

	r := startNode(t, dir, secret)
	if r.id() != id {
		t.Fatalf("reopened with peer ID %s, was %s", r.id(), id)
	}
	has, err := r.node.HasExistingState()
	if err != nil || !has {
		t.Fatalf("HasExistingState = %v, %v; want true", has, err)
	}
	if err := r.node.Bootstrap(ctx, 1); err == nil {
		t.Error("bootstrapping a data dir that already has state succeeded")
	}
	eventually(t, 10*time.Second, "the state to come back", func() error {
		got := r.node.Membership()
		if got.Voters != 1 || len(got.Members) != 2 {
			return errors.New("not yet")
		}
		for id, w := range before.Members {
			m := got.Members[id]
			if m == nil || m.State != w.State || !m.Joined.Equal(w.Joined) || !slices.Equal(m.Addrs, w.Addrs) {
				return errors.New("member " + id + " differs")
			}
		}
		return nil
	})
	if !r.node.IsLeader() {
		t.Error("the lone voter does not lead after the restart")
	}
	if err := r.node.Apply(ctx, Command{Op: OpState, ID: "b", State: Alive}); err != nil {
		t.Errorf("Apply after restart: %v", err)
	}
}

func TestOpenDataDirLocked(t *testing.T) {
	secret := newSecret(t)
	dir := t.TempDir()
	first := startNode(t, dir, secret)
	_ = first
	second := startHost(t, t.TempDir(), secret)
	start := time.Now()
	node, err := Open(Config{Host: second.host, DataDir: dir, HeartbeatTimeout: heartbeat, ElectionTimeout: election})
	if err == nil {
		node.Close()
		t.Fatal("opened a data dir another node has open")
	}
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("err = %v, want ErrDataDirLocked", err)
	}
	if errors.Is(err, mesh.ErrCorruptDataDir) {
		t.Errorf("a locked data dir reported as corrupt: %v", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the data dir", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to report the lock", d)
	}
}

func TestOpenCorruptLog(t *testing.T) {
	secret := newSecret(t)
	h := startHost(t, t.TempDir(), secret)
	for _, tc := range []struct {
		name string
		data func() []byte
	}{
		{"short garbage", func() []byte { return []byte("definitely not a bolt database") }},
		{"page of garbage", func() []byte { return bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096) }},
		{"zeroed pages", func() []byte { return make([]byte, 32<<10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "raft", "raft.db")
			if err := os.WriteFile(path, tc.data(), 0o600); err != nil {
				t.Fatal(err)
			}
			node, err := Open(Config{Host: h.host, DataDir: dir, HeartbeatTimeout: heartbeat, ElectionTimeout: election})
			if err == nil {
				node.Close()
				t.Fatal("opened a corrupt raft.db")
			}
			if !errors.Is(err, mesh.ErrCorruptDataDir) {
				t.Fatalf("err = %v, want ErrCorruptDataDir", err)
			}
			if errors.Is(err, ErrDataDirLocked) {
				t.Errorf("corrupt log reported as locked: %v", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
	// The host is still usable for a good data dir after the failures.
	node, err := Open(Config{Host: h.host, DataDir: t.TempDir(), HeartbeatTimeout: heartbeat, ElectionTimeout: election})
	if err != nil {
		t.Fatalf("Open a fresh data dir after the failures: %v", err)
	}
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
}

// CaughtUp: the leader tells whether a member's log holds the latest
// configuration; a member down while the configuration changed is not,
// until it is back and has caught up.
func TestCaughtUp(t *testing.T) {
	secret := newSecret(t)
	base := t.TempDir()
	n0 := startNode(t, filepath.Join(base, "n0"), secret)
	n1 := startNode(t, filepath.Join(base, "n1"), secret)
	n2 := startNode(t, filepath.Join(base, "n2"), secret)
	introduce(t, n0, n1, n2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n0.node.Bootstrap(ctx, 3); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	caughtUp := func(n *testNode, want bool) func() error {
		return func() error {
			if got := n0.node.CaughtUp(n.id()); got != want {
				return fmt.Errorf("CaughtUp(%s) = %v, want %v", n.dir, got, want)
			}
			return nil
		}
	}
	if n0.node.CaughtUp(n1.id()) {
		t.Error("a member not in the configuration is caught up")
	}
	if err := n0.node.AddNonvoter(n1.id(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n1 caught up", caughtUp(n1, true))
	if n1.node.CaughtUp(n0.id()) {
		t.Error("CaughtUp answered true on a follower")
	}

	// n1 is down while the configuration changes.
	dir1 := n1.dir
	n1.close(t)
	if err := n0.node.AddNonvoter(n2.id(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n2 caught up", caughtUp(n2, true))
	if err := caughtUp(n1, false)(); err != nil {
		t.Errorf("a member down during a change of the configuration: %v", err)
	}

	n1 = startNode(t, dir1, secret)
	introduce(t, n0, n1)
	eventually(t, 15*time.Second, "n1 caught up after its restart", caughtUp(n1, true))
	if err := n0.node.AddVoter(n1.id(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n1 caught up with its promotion", caughtUp(n1, true))
}
