package futures

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/actors"
)

// Regression (chaos, rolling kills): every node was restarted on a new port
// since the client last asked for the status, and the client, which learned
// members' addresses only when it looked for a new leader, kept dialing the
// old ones: it never found the mesh again, the leader released its keys
// for silence, and nothing it submitted resolved after that.
//
// Here each node in turn (followers first, the leader last, the node the
// client connected through among them) is stopped, seen dead by the others,
// and started again from its data dir on a port none of them used before.
// The client must learn each new address by itself while the mesh is
// healthy, find the new leader when the old one goes, and keep working:
// the futures it held resolve and fetch, the ones pending across the last
// restart resolve, and new submissions work.
func TestClientFollowsNodesRestartedOnNewPorts(t *testing.T) {
	lc, c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	args := make([]any, 50)
	for i := range args {
		args[i] = i
	}
	held, err := c.Map(ctx, "test.inc", args)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GatherAs[int](ctx, c, held); err != nil {
		t.Fatal(err)
	}

	used := map[string]bool{}
	for _, n := range lc.nodes {
		used[tcpPort(t, n.Addrs()[0])] = true
	}
	var order []int // followers first, the leader last
	leader := -1
	for i, n := range lc.nodes {
		if n.Raft().IsLeader() {
			leader = i
		} else {
			order = append(order, i)
		}
	}
	if leader < 0 {
		t.Fatal("no node leads")
	}
	order = append(order, leader)

	var pending []*Future
	for _, i := range order {
		if i == leader {
			// Work in flight while the scheduler goes away.
			sleeps := make([]any, 24)
			for j := range sleeps {
				sleeps[j] = 150
			}
			if pending, err = c.Map(ctx, "test.sleep", sleeps, Pure(false)); err != nil {
				t.Fatal(err)
			}
		}
		addr := restartOnNewPort(ctx, t, lc, i, used)
		id := lc.nodes[i].ID().String()
		// While the mesh is healthy the client learns the new address by
		// itself (it talks to this node for nothing in particular).
		waitUntil(t, 20*time.Second, fmt.Sprintf("the client learns node%d's new address %s", i+1, addr), func() error {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, m := range c.members {
				if m.ID == id {
					if slices.Contains(m.Addrs, addr) {
						return nil
					}
					return fmt.Errorf("the client knows node%d at %v", i+1, m.Addrs)
				}
			}
			return fmt.Errorf("the client does not know node%d", i+1)
		})
	}

	// Every address the client had at the start is stale now.
	got, err := GatherAs[int](ctx, c, pending)
	if err != nil {
		t.Fatalf("futures pending while the leader restarted: %v", err)
	}
	for j, v := range got {
		if v != 150 {
			t.Fatalf("pending future %d = %d, want 150", j, v)
		}
	}
	vals, err := GatherAs[int](ctx, c, held)
	if err != nil {
		t.Fatalf("futures held across the restarts: %v", err)
	}
	for j, v := range vals {
		if v != j+1 {
			t.Fatalf("held future %d = %d, want %d", j, v, j+1)
		}
	}
	for j := range args {
		args[j] = 1000 + j
	}
	fresh, err := c.Map(ctx, "test.inc", args)
	if err != nil {
		t.Fatal(err)
	}
	vals, err = GatherAs[int](ctx, c, fresh)
	if err != nil {
		t.Fatalf("a new workload after every node moved: %v", err)
	}
	for j, v := range vals {
		if v != 1001+j {
			t.Fatalf("new future %d = %d, want %d", j, v, 1001+j)
		}
	}
}

// A client silent past the client timeout (a paused process; or one that
// could not reach any member) has its keys released by the leader, and is
// told so (SchedulerInfo.Expired) when it is heard again: it asks again for
// every future it holds. Futures finished before the pause, pending during
// it and submitted after it all resolve.
func TestExpiredClientGetsItsFuturesBack(t *testing.T) {
	const timeout = 3 * time.Second
	lc, _ := newCluster(t, 2, WithClientTimeout(timeout))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logRecorder{}
	c, err := Connect(ctx, lc.Addr(), WithSecret(lc.Secret()), WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // before the cluster's
	done, err := c.Submit(ctx, "test.inc", 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Err(ctx); err != nil {
		t.Fatal(err)
	}
	slow, err := c.Submit(ctx, "test.sleep", 2*int(timeout/time.Millisecond), Pure(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.flushQueue(); err != nil {
		t.Fatal(err)
	}
	stored := func(key string) bool {
		for _, n := range lc.Nodes() {
			if slices.Contains(n.StoredKeys(), key) {
				return true
			}
		}
		return false
	}
	waitUntil(t, 10*time.Second, "the finished value is stored", func() error {
		if !stored(done.Key()) {
			return fmt.Errorf("%s is on no node", done.Key())
		}
		return nil
	})
	// Pause the client: with its lock held, it sends nothing (no
	// heartbeat, no status) until the leader gives it up and drops the
	// value it held.
	c.mu.Lock()
	paused := time.Now()
	for stored(done.Key()) {
		if time.Since(paused) > timeout+15*time.Second {
			c.mu.Unlock()
			t.Fatalf("the paused client's value is still held %v later (client timeout %v)", time.Since(paused), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.mu.Unlock()
	after, err := c.Submit(ctx, "test.inc", 41)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    *Future
		want int
	}{{"submitted after the expiry", after, 42}, {"pending at the expiry", slow, 2 * int(timeout/time.Millisecond)}, {"finished before the expiry", done, 8}} {
		var v int
		if err := tc.f.Result(ctx, &v); err != nil || v != tc.want {
			t.Fatalf("future %s: %d, %v; want %d", tc.name, v, err, tc.want)
		}
	}
	waitUntil(t, 10*time.Second, "the recomputed value is stored again", func() error {
		if !stored(done.Key()) {
			return fmt.Errorf("%s is on no node", done.Key())
		}
		return nil
	})
	if !logs.has("the scheduler had given this client up") {
		t.Errorf("the client was not told it had been given up; its logs:\n%s", logs)
	}
}

// logRecorder is a slog.Handler keeping the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.msgs, func(m string) bool { return strings.Contains(m, msg) })
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.msgs, "\n")
}

// restartOnNewPort stops node i of lc, waits until the others show it dead,
// starts it again from its data dir on a port not in used, and waits until
// the mesh agrees again. It returns the node's new address.
func restartOnNewPort(ctx context.Context, t *testing.T, lc *LocalCluster, i int, used map[string]bool) string {
	t.Helper()
	old := lc.nodes[i]
	id := old.ID().String()
	if err := old.Close(); err != nil {
		t.Logf("close node%d: %v", i+1, err)
	}
	var others []*actors.Node
	for j, n := range lc.nodes {
		if j != i {
			others = append(others, n)
		}
	}
	waitUntil(t, 20*time.Second, fmt.Sprintf("node%d is seen dead", i+1), func() error {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := others[0].Status(sctx)
		if err != nil {
			return err
		}
		if st.Stale || st.Leader == "" || st.Leader == id {
			return fmt.Errorf("no new leader yet (leader %q, stale %v)", st.Leader, st.Stale)
		}
		for _, m := range st.Members {
			if m.ID == id && m.State != "dead" {
				return fmt.Errorf("node%d is %s", i+1, m.State)
			}
		}
		return nil
	})
	port := freePort(t, used)
	n, err := actors.StartNode(ctx, actors.NodeConfig{
		DataDir: filepath.Join(lc.dir, fmt.Sprintf("node%d", i+1)),
		Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + port)},
		Secret:  lc.secret, Name: fmt.Sprintf("node%d", i+1), Threads: 2,
	})
	if err != nil {
		t.Fatalf("restart node%d on port %s: %v", i+1, port, err)
	}
	lc.nodes[i] = n // lc.Close closes it
	addr := n.Addrs()[0].String()
	if n.ID().String() != id || !strings.Contains(addr, "/tcp/"+port+"/") {
		t.Fatalf("node%d restarted as %s at %s, want %s on port %s", i+1, n.ID(), addr, id, port)
	}
	// The next restart must not cost the quorum: wait until every node
	// agrees that all are alive voters, and stays so for a second (a
	// node back soon after it was shown dead can be shown dead once
	// more, and demoted, just after it rejoined).
	var stableSince time.Time
	waitUntil(t, 30*time.Second, fmt.Sprintf("the mesh is whole again after node%d restarted", i+1), func() error {
		err := allAliveVoters(ctx, lc.nodes)
		switch {
		case err != nil:
			stableSince = time.Time{}
			return err
		case stableSince.IsZero():
			stableSince = time.Now()
		}
		if time.Since(stableSince) < time.Second {
			return fmt.Errorf("whole for %v only", time.Since(stableSince))
		}
		return nil
	})
	return addr
}

// allAliveVoters checks that the nodes agree on the leader and see each
// other alive, all voters.
func allAliveVoters(ctx context.Context, nodes []*actors.Node) error {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := actors.WaitAgreed(sctx, nodes); err != nil {
		return err
	}
	for _, n := range nodes {
		st, err := n.Status(sctx)
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.State != "alive" || m.Role != "voter" {
				return fmt.Errorf("%s is %s, %s", m.Name, m.State, m.Role)
			}
		}
	}
	return nil
}

// freePort returns a free TCP port on 127.0.0.1 that is not in used, and
// adds it.
func freePort(t *testing.T, used map[string]bool) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		if !used[port] {
			used[port] = true
			return port
		}
	}
	t.Fatal("no free port")
	return ""
}

func tcpPort(t *testing.T, a ma.Multiaddr) string {
	t.Helper()
	p, err := a.ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitUntil polls fn until it succeeds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
