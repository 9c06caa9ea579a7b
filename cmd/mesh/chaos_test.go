package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The partition switch (--chaos): the leader is cut off from the two other
// nodes (it blocks them, they block it). They elect a new leader among
// themselves and mark the old one dead; after the heal the three agree
// again, all alive, three voters.
func TestChaosIsolateLeader(t *testing.T) {
	nodes := startMesh(t, 3, "--chaos")
	old := waitAgreed(t, nodes, 3, 30*time.Second)
	others := without(nodes, old)

	cpuBefore := cpuTimes(nodes)
	isolated := time.Now()
	if err := partition(old, others...); err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		if err := partition(o, old); err != nil {
			t.Fatal(err)
		}
	}
	var newLeader atomic.Value // polls overlap
	took, err := pollOverlapping(isolated, 250*time.Millisecond, 20*time.Second, func() error {
		l, sts, err := agree(others, want{
			states:      map[string]string{old.id: "dead", others[0].id: "alive", others[1].id: "alive"},
			aliveVoters: 2,
		}, 3*time.Second)
		if err != nil {
			return err
		}
		if l == old.id {
			return fmt.Errorf("the isolated node still leads: %s", sts[0])
		}
		newLeader.Store(l)
		return nil
	})
	if err != nil {
		t.Fatalf("the two others did not agree on a new leader with %s dead within 20 s of the partition: %v", old.name, err)
	}
	t.Logf("isolated leader %s: %s leads, %s dead, after %v", old.name, byID(t, others, newLeader.Load().(string)).name, old.name, took.Round(time.Millisecond))
	if blocked, err := old.chaos("GET", "/blocked"); err != nil || !sameIDs(blocked, ids(others)) {
		t.Errorf("GET /blocked on %s: %v %v, want %v", old.name, blocked, err, ids(others))
	}
	// No retry storm: cut-off nodes redial a few times a second at most.
	if cpuBefore != nil {
		elapsed := time.Since(isolated)
		for i, c := range cpuTimes(nodes) {
			share := float64(c-cpuBefore[i]) / float64(elapsed)
			t.Logf("%s used %.0f%% of a core while partitioned", nodes[i].name, 100*share)
			if share > 0.6 {
				t.Errorf("%s used %.0f%% of a core during the partition: a retry storm?", nodes[i].name, 100*share)
			}
		}
	}

	healed := time.Now()
	for _, n := range nodes {
		if blocked, err := n.chaos("POST", "/heal"); err != nil || len(blocked) != 0 {
			t.Fatalf("heal %s: %v %v", n.name, blocked, err)
		}
	}
	leader := waitAgreed(t, nodes, 3, 30*time.Second)
	t.Logf("healed: all three agree on %s, all alive, after %v", leader.name, time.Since(healed).Round(time.Millisecond))
}

// partition makes n block the given nodes (replacing what it blocked).
func partition(n *node, block ...*node) error {
	blocked, err := n.chaos("POST", "/partition?block="+strings.Join(ids(block), ","))
	if err != nil {
		return err
	}
	if !sameIDs(blocked, ids(block)) {
		return fmt.Errorf("%s blocks %v, want %v", n.name, blocked, ids(block))
	}
	return nil
}

func ids(nodes []*node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.id)
	}
	return out
}

func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// cpuTimes returns the CPU time (user + system) each node's process has
// used so far, from /proc; nil where /proc cannot tell.
func cpuTimes(nodes []*node) []time.Duration {
	out := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(n.cmd.Process.Pid), "stat"))
		if err != nil {
			return nil
		}
		// Fields after the command name (which may hold spaces): state is
		// field 3, utime and stime are fields 14 and 15, in clock ticks
		// (100 a second on Linux).
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			return nil
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		k, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return nil
		}
		out[i] = time.Duration(u+k) * 10 * time.Millisecond
	}
	return out
}
