package futures

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drainRuns counts the runs of test.drainwork per argument.
var drainRuns sync.Map // int -> *atomic.Int32

func init() {
	Register("test.drainwork", func(ctx context.Context, i, ms int) int {
		v, _ := drainRuns.LoadOrStore(i, new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
		}
		return i * i
	})
}

// A node that leaves gracefully drains first: tasks it has not started
// move, the ones it runs finish, and results of which it holds the only
// copy are copied to nodes that stay — nothing is computed twice.
func TestLeaveDrainsWithoutRecompute(t *testing.T) {
	lc, c := newCluster(t, 3, WithReplicas(1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var done, busy []*Future
	for i := range 40 {
		f, err := c.Submit(ctx, "test.drainwork", i, 2)
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, f)
	}
	if _, _, err := c.Wait(ctx, done, AllCompleted); err != nil {
		t.Fatal(err)
	}
	// Longer tasks, running or queued when the node leaves.
	for i := 100; i < 116; i++ {
		f, err := c.Submit(ctx, "test.drainwork", i, 300)
		if err != nil {
			t.Fatal(err)
		}
		busy = append(busy, f)
	}
	// The node that leaves: not the leader, not the client's entry point.
	var leaving int
	for i, n := range lc.Nodes() {
		if i > 0 && !n.Raft().IsLeader() {
			leaving = i
		}
	}
	if leaving == 0 {
		t.Fatal("no node to leave")
	}
	held := 0
	ex, err := c.Explain(ctx, futureKeys(done)...)
	if err != nil {
		t.Fatal(err)
	}
	id := lc.Nodes()[leaving].ID().String()
	for _, e := range ex.Tasks {
		if len(e.Holders) == 1 && e.Holders[0] == id {
			held++
		}
	}
	if held == 0 {
		t.Fatalf("the leaving node holds no result alone: the test proves nothing (%+v)", ex.Tasks)
	}
	lctx, lcancel := context.WithTimeout(ctx, 20*time.Second)
	err = lc.Nodes()[leaving].Leave(lctx)
	lcancel()
	if err != nil {
		t.Fatalf("leave: %v", err)
	}
	lc.Nodes()[leaving].Close()

	all := append(done, busy...)
	got, err := GatherAs[int](ctx, c, all)
	if err != nil {
		t.Fatal(err)
	}
	for j, f := range all {
		i := j
		if j >= len(done) {
			i = 100 + j - len(done)
		}
		if got[j] != i*i {
			t.Fatalf("%s = %d, want %d", f.Key(), got[j], i*i)
		}
		v, _ := drainRuns.Load(i)
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("task %d ran %d times: the leave caused a recompute (the node held %d results alone)", i, n, held)
		}
	}
}

func futureKeys(fs []*Future) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Key()
	}
	return out
}

// A whole mesh told to leave at once (every node's SIGTERM, a StatefulSet
// scaled to zero) has nowhere to drain to: each node sees that and leaves
// without waiting for its drain timeout, saying what goes with the mesh.
func TestWholeMeshLeavesAtOnce(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	lc, c := newCluster(t, 3, WithReplicas(1), WithLogger(log))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var fs []*Future
	for i := 1000; i < 1006; i++ {
		f, err := c.Submit(ctx, "test.drainwork", i, 1)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	if _, _, err := c.Wait(ctx, fs, AllCompleted); err != nil {
		t.Fatal(err)
	}
	// Each node's drain may take up to its context less 3 s; a drain
	// that waits for a node that stays would use all of that.
	const leaveTimeout = 40 * time.Second
	var wg sync.WaitGroup
	errs := make([]error, len(lc.Nodes()))
	for i, n := range lc.Nodes() {
		wg.Go(func() {
			lctx, lcancel := context.WithTimeout(ctx, leaveTimeout)
			defer lcancel()
			errs[i] = n.Leave(lctx)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: leave: %v", i, err)
		}
	}
	out := logs.String()
	if strings.Contains(out, "leaving before the drain finished") || strings.Contains(out, "leaving without a drain") {
		t.Fatalf("a node waited out its drain although every node was leaving:\n%s", out)
	}
	if !strings.Contains(out, "every node of the mesh is leaving") {
		t.Fatalf("no node said that every node was leaving:\n%s", out)
	}
}
