package actors

import (
	"github.com/libp2p/go-libp2p/core/network"

	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/consensus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOptions()...)
}

// testConfig keeps the failure detector quick; its logs are printed if
// the test fails.
func testConfig(t *testing.T) NodeConfig {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs:\n%s", buf.String())
		}
	})
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NodeConfig{DeadAfter: time.Second, Heartbeat: 100 * time.Millisecond, JoinTimeout: 10 * time.Second, Logger: log, RaftLog: buf, RaftLogLevel: "warn"}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startMesh(t *testing.T, n int) ([]*Node, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := StartLocalMesh(ctx, dir, n, testConfig(t))
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.Close()
		}
	})
	if err != nil {
		t.Fatalf("start mesh: %v", err)
	}
	if _, err := WaitAgreed(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	return nodes, dir
}

func leaderOf(t *testing.T, nodes []*Node) (*Node, []*Node) {
	t.Helper()
	for i, n := range nodes {
		if n.Raft().IsLeader() {
			rest := append(append([]*Node{}, nodes[:i]...), nodes[i+1:]...)
			return n, rest
		}
	}
	t.Fatal("no leader")
	return nil, nil
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v: %v", what, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func memberState(st *Status, id string) string {
	for _, m := range st.Members {
		if m.ID == id {
			return m.State
		}
	}
	return "absent"
}

func TestRemoteRequestAcrossNodes(t *testing.T) {
	nodes, _ := startMesh(t, 2)
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	reply, err := replyAs[Echo](a.Remote().Request(ctx, a.Remote().PID(b.ID(), SupervisorID), &Echo{Text: "hello", From: a.ID().String()}))
	if err != nil {
		t.Fatalf("echo to remote node: %v", err)
	}
	if reply.Text != "hello" || reply.From != b.ID().String() {
		t.Fatalf("reply %+v: want text hello from %s", reply, b.ID())
	}

	// Many requests in flight at once all get their own answer.
	errs := make(chan error, 200)
	for i := range 200 {
		go func() {
			text := fmt.Sprint(i)
			r, err := replyAs[Echo](a.Remote().Request(ctx, a.Remote().PID(b.ID(), SupervisorID), &Echo{Text: text}))
			if err == nil && r.Text != text {
				err = fmt.Errorf("got %q want %q", r.Text, text)
			}
			errs <- err
		}()
	}
	for range 200 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	// An actor that does not exist answers with a clear error, not silence.
	_, err = a.Remote().Request(ctx, a.Remote().PID(b.ID(), "no/such/actor"), &Echo{Text: "x"})
	var er *ErrorReply
	if !errors.As(err, &er) || er.Code != CodeNoActor {
		t.Fatalf("request to missing actor: got %v, want ErrorReply %s", err, CodeNoActor)
	}
}

func TestRequestToGonePeerFailsFast(t *testing.T) {
	nodes, _ := startMesh(t, 2)
	a, b := nodes[0], nodes[1]
	bid := b.ID()
	b.Close()
	// A message written into the old stream just as the peer went away is
	// lost (and its request times out); once the connection is known to be
	// gone, requests fail at once with the reason.
	waitFor(t, 5*time.Second, "an unreachable error instead of a timeout", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := a.Remote().Request(ctx, a.Remote().PID(bid, SupervisorID), &Echo{Text: "x"})
		var er *ErrorReply
		if !errors.As(err, &er) || er.Code != CodeUnreachable {
			return fmt.Errorf("got %v, want an ErrorReply %s", err, CodeUnreachable)
		}
		return nil
	})
}

// A request in flight when its peer's connection is lost fails at once,
// not at its timeout (a worker fetching from a node that died).
func TestRequestInFlightFailsWhenPeerDies(t *testing.T) {
	nodes, _ := startMesh(t, 2)
	a, b := nodes[0], nodes[1]
	// The supervisor ignores a Pong: no reply will come.
	call, err := a.Remote().Start(a.Remote().PID(b.ID(), SupervisorID), &Pong{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a connection to b", func() error {
		if a.host.Network().Connectedness(b.ID()) != network.Connected {
			return fmt.Errorf("not connected")
		}
		return nil
	})
	// Messages to a peer arrive in order: once an Echo sent after the Pong
	// is answered, b has the Pong, and closing b cannot race its delivery
	// (b would answer "no actor" from its stopping supervisor).
	ectx, ecancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, err := a.Remote().Request(ectx, a.Remote().PID(b.ID(), SupervisorID), &Echo{Text: "after the pong"}); err != nil {
		ecancel()
		t.Fatal(err)
	}
	ecancel()
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = call.Wait(ctx)
	var er *ErrorReply
	if !errors.As(err, &er) || er.Code != CodeUnreachable {
		t.Fatalf("got %v after %v, want an ErrorReply %s", err, time.Since(start), CodeUnreachable)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failed after %v: at the timeout, not when the connection was lost", d)
	}
}

func TestRequestWithoutReplyTimesOut(t *testing.T) {
	nodes, _ := startMesh(t, 2)
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The supervisor ignores a Pong: no reply will come.
	_, err := a.Remote().Request(ctx, a.Remote().PID(b.ID(), SupervisorID), &Pong{})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestSchedulerRunsOnlyOnLeader(t *testing.T) {
	nodes, _ := startMesh(t, 3)
	leader, _ := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range nodes {
		// Ask from another node, so the request crosses the wire.
		from := nodes[0]
		if n == from {
			from = nodes[1]
		}
		info, err := replyAs[SchedulerInfo](from.Remote().Request(ctx, from.Remote().PID(n.ID(), SchedulerID), &SchedulerInfoRequest{}))
		if n == leader {
			if err != nil || info.Node != n.ID().String() {
				t.Fatalf("leader's scheduler: %+v, %v", info, err)
			}
			continue
		}
		var er *ErrorReply
		if !errors.As(err, &er) || er.Code != CodeNoActor {
			t.Fatalf("follower %s has a scheduler: %+v, %v", n.ID(), info, err)
		}
	}
}

func TestLeaderLossMovesLeadershipAndScheduler(t *testing.T) {
	nodes, _ := startMesh(t, 3)
	old, rest := leaderOf(t, nodes)
	oldID := old.ID().String()
	old.Close() // a crash, not a leave: no one is told

	var newLeader *Node
	waitFor(t, 10*time.Second, "a new leader agreed by the survivors", func() error {
		st, err := WaitAgreedLeader(rest)
		if err != nil {
			return err
		}
		for _, n := range rest {
			if n.ID().String() == st {
				newLeader = n
				return nil
			}
		}
		return fmt.Errorf("survivors still follow %s", st)
	})
	waitFor(t, 5*time.Second, "old leader marked dead", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := newLeader.Status(ctx)
		if err != nil {
			return err
		}
		if s := memberState(st, oldID); s != "dead" {
			return fmt.Errorf("old leader is %s", s)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "scheduler on the new leader", func() error {
		_, err := replyAs[SchedulerInfo](rest[0].Remote().Request(ctx, rest[0].Remote().PID(newLeader.ID(), SchedulerID), &SchedulerInfoRequest{}))
		return err
	})
}

// WaitAgreedLeader returns the leader all nodes agree on, or an error.
func WaitAgreedLeader(nodes []*Node) (string, error) {
	var leader string
	for _, n := range nodes {
		l, ok := n.Raft().Leader()
		if !ok {
			return "", fmt.Errorf("%s knows no leader", n.ID())
		}
		if leader != "" && l.String() != leader {
			return "", fmt.Errorf("disagree: %s vs %s", leader, l)
		}
		leader = l.String()
	}
	return leader, nil
}

func TestGracefulLeave(t *testing.T) {
	nodes, _ := startMesh(t, 3)
	leader, rest := leaderOf(t, nodes)
	leaving := rest[0]
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := leaving.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	// Removed at once: no failure-detector delay.
	st, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := memberState(st, leaving.ID().String()); s != "left" {
		t.Fatalf("leaving member is %s, want left", s)
	}
	servers, err := leader.Raft().Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.ID == leaving.ID().String() {
			t.Fatalf("left member still in the raft configuration: %+v", servers)
		}
	}
}

func TestLeaderLeavesHandsOverLeadership(t *testing.T) {
	nodes, _ := startMesh(t, 3)
	leader, rest := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := leader.Leave(ctx); err != nil {
		t.Fatalf("leader leave: %v", err)
	}
	leader.Close()
	waitFor(t, 5*time.Second, "survivors agree and see the old leader as left", func() error {
		l, err := WaitAgreedLeader(rest)
		if err != nil {
			return err
		}
		if l == leader.ID().String() {
			return fmt.Errorf("old leader still leads")
		}
		st, err := rest[0].Status(ctx)
		if err != nil {
			return err
		}
		if s := memberState(st, leader.ID().String()); s != "left" {
			return fmt.Errorf("old leader is %s", s)
		}
		return nil
	})
}

func TestRestartRejoinsAsSameMember(t *testing.T) {
	nodes, dir := startMesh(t, 3)
	_, rest := leaderOf(t, nodes)
	victim := rest[0]
	id := victim.ID()
	victim.Close()
	idx := -1
	for i, n := range nodes {
		if n == victim {
			idx = i
		}
	}
	// Same data dir, no peers, no secret flag: the node finds its mesh
	// from its own files.
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(dir, fmt.Sprintf("node%d", idx+1))
	cfg.Secret = victim.cfg.Secret
	cfg.Listen = victim.cfg.Listen
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	again, err := StartNode(ctx, cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	nodes[idx] = again
	if again.ID() != id {
		t.Fatalf("restarted node has id %s, want %s", again.ID(), id)
	}
	if _, err := WaitAgreed(ctx, nodes); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptDataDirIsAClearError(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.DataDir = dir
	secret, err := newTestSecret()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Secret = secret
	if err := os.WriteFile(filepath.Join(dir, "identity.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = StartNode(context.Background(), cfg)
	if err == nil {
		t.Fatal("started on a corrupt identity")
	}
	if !errors.Is(err, errCorrupt()) {
		t.Fatalf("error %v does not wrap ErrCorruptDataDir", err)
	}
	_ = consensus.Alive
}

// Drops from a scheduler of an earlier Raft term (a leader paused past an
// election, acting on its stale graph before it learns it was deposed)
// are ignored; the current term's are obeyed.
func TestStaleTermDropsAreIgnored(t *testing.T) {
	nodes, _ := startMesh(t, 2)
	w := nodes[1]
	for _, k := range []string{"a", "b"} {
		if err := w.store.Put(k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	term := w.Raft().Term()
	pid := w.Remote().PID(w.ID(), StoreID)
	nodes[0].sys.Root.Send(pid, &DropValues{Keys: []string{"a"}, Term: term - 1})
	nodes[0].sys.Root.Send(pid, &DropValues{Keys: []string{"b"}, Term: term})
	waitFor(t, 5*time.Second, "b dropped", func() error {
		if slices.Contains(w.StoredKeys(), "b") {
			return errors.New("b still held")
		}
		return nil
	})
	// Messages from one sender arrive in order: a's drop came first.
	if !slices.Contains(w.StoredKeys(), "a") {
		t.Fatal("a dropped by a scheduler of an earlier term")
	}
}
