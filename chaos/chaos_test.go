package chaos

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeBin is the chaosnode binary TestMain builds.
var nodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mesh-chaos-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: temp dir:", err)
		os.Exit(1)
	}
	nodeBin, err = BuildNode(dir, os.Getenv("CHAOS_RACE") == "1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testSeed is CHAOS_SEED, or a new seed printed by the test.
func testSeed(t *testing.T) uint64 {
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// TestChaos runs the short suite: each scenario on a fresh mesh of real
// processes with small workloads. CHAOS_SEED reproduces a run;
// CHAOS_SCENARIOS=all (or a list) runs others.
func TestChaos(t *testing.T) {
	seed := testSeed(t)
	t.Logf("CHAOS_SEED=%d", seed)
	which := os.Getenv("CHAOS_SCENARIOS")
	if which == "" {
		which = "short"
	}
	scs, err := Lookup(which)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reports []*Report
	t.Cleanup(func() {
		var b strings.Builder
		PrintTable(&b, reports)
		t.Logf("CHAOS_SEED=%d\n%s", seed, b.String())
	})
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			r := Run(ctx, sc, Options{Binary: nodeBin, Seed: seed, Short: true, Bound: 60 * time.Second, DataFrame: os.Getenv("CHAOS_DATAFRAME") != "0", KeepFailed: true,
				Collections: os.Getenv("CHAOS_COLLECTIONS") != "0",
				Logf:        func(format string, args ...any) { t.Logf(format, args...) }})
			mu.Lock()
			reports = append(reports, r)
			mu.Unlock()
			switch {
			case r.Skipped != "":
				t.Skip(r.Skipped)
			case !r.Passed():
				t.Error(r.Detail())
			}
		})
	}
}

// Close leaves no process behind, and a killed node restarts with the
// same identity.
func TestClusterKillRestartClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{Binary: nodeBin, Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := c.Nodes[1]
	id := n.ID()
	if err := c.Kill(n, "test"); err != nil {
		t.Fatal(err)
	}
	if n.Running() || n.Crashed() != nil {
		t.Fatalf("after Kill: running %v, crashed %v", n.Running(), n.Crashed())
	}
	if err := c.Restart(ctx, n); err != nil {
		t.Fatal(err)
	}
	if n.ID() != id {
		t.Fatalf("restarted with peer ID %s, want %s", n.ID(), id)
	}
	if _, err := c.WaitAgreed(ctx); err != nil {
		t.Fatal(err)
	}
	if g, err := n.Goroutines(ctx); err != nil || g == 0 {
		t.Fatalf("goroutines: %d, %v", g, err)
	}
	var pids []int
	for _, n := range c.Nodes {
		pids = append(pids, n.cmd.Process.Pid)
	}
	c.Close()
	for i, n := range c.Nodes {
		if n.Running() {
			t.Errorf("%s (pid %d) still runs after Close", n.Name, pids[i])
		}
	}
}
