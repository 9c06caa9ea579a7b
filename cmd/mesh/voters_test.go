package main

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// A voter restarted after the voter set changed while it was down must not
// be promoted before its Raft log holds the current configuration. Raft
// (hashicorp/raft) refuses a vote to a candidate that is not a voter in the
// voter's own latest configuration: a restarted node promoted with a stale
// log (the leader retries a dead peer with a backoff of up to 10 s, so it
// catches up late) refused the other voter's votes when the leader died,
// and the mesh had no leader with 2 of its 3 voters live (chaos
// rolling-kills, seed 4).
//
// Five nodes, three voters {L, B, C}: SIGKILL B (a non-voter D is promoted),
// then the last non-voter E, then C (no spare: C is demoted, voters {L, D}).
// Restart B: it is promoted, since the mesh lacks a voter. Once the mesh
// shows it a voter, SIGKILL the leader L: B and D must elect a leader.
func TestRestartedVoterPromotedThenLeaderKilled(t *testing.T) {
	nodes := startMesh(t, 5, "--log-level", "debug")
	leader := waitAgreed(t, nodes, 3, 30*time.Second)
	// roles: the live voters besides the leader, and the live non-voters.
	roles := func() (voters, nonvoters []*node) {
		st, err := leader.status(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			switch m := st.member(n.id); {
			case m == nil:
				t.Fatalf("%s missing: %s", n.name, st)
			case n == leader || m.State != "alive":
			case m.Role == "voter":
				voters = append(voters, n)
			case m.Role == "nonvoter":
				nonvoters = append(nonvoters, n)
			}
		}
		return voters, nonvoters
	}
	voters, nonvoters := roles()
	if len(voters) != 2 || len(nonvoters) != 2 {
		t.Fatalf("want the leader, 2 other voters and 2 non-voters, got voters %v non-voters %v", names(voters), names(nonvoters))
	}
	b, c := voters[0], voters[1]

	// B dies: a non-voter takes its vote.
	b.kill()
	live := without(nodes, b)
	waitMembership(t, live, map[*node]string{b: "dead"}, 3)
	_, nonvoters = roles()
	if len(nonvoters) != 1 {
		t.Fatalf("want one live non-voter left after %s's death, got %v", b.name, names(nonvoters))
	}
	e := nonvoters[0]

	// The last spare dies, then C: no one to promote, C is demoted.
	e.kill()
	live = without(live, e)
	waitMembership(t, live, map[*node]string{b: "dead", e: "dead"}, 3)
	c.kill()
	live = without(live, c)
	waitMembership(t, live, map[*node]string{b: "dead", e: "dead", c: "dead"}, 2)
	d := without(live, leader)[0]

	// B comes back (its log stops before D was promoted) and is promoted.
	restarted := time.Now()
	b.restart("--log-level", "debug")
	live = append(live, b)
	waitMembership(t, live, map[*node]string{e: "dead", c: "dead"}, 3)
	t.Logf("%s restarted and promoted within %v; killing the leader %s (voters left: %s, %s)",
		b.name, time.Since(restarted).Round(time.Millisecond), leader.name, b.name, d.name)

	killed := time.Now()
	leader.kill()
	survivors := []*node{b, d}
	var newLeader atomic.Value
	took, err := pollOverlapping(killed, 250*time.Millisecond, 20*time.Second, func() error {
		return newLeaderAgreed(survivors, leader, &newLeader)
	})
	if err != nil {
		t.Fatalf("the two live voters %s and %s elected no leader within 20 s of SIGKILL of the leader %s: %v", b.name, d.name, leader.name, err)
	}
	t.Logf("%s leads after %v", byID(t, survivors, newLeader.Load().(string)).name, took.Round(time.Millisecond))
}

// waitMembership waits until the live nodes agree on a leader, show the
// given nodes in the given state, every other node alive, and aliveVoters
// live voters.
func waitMembership(t *testing.T, live []*node, states map[*node]string, aliveVoters int) {
	t.Helper()
	w := allAlive(live, aliveVoters)
	for n, s := range states {
		w.states[n.id] = s
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("membership %v", w.states), func() error {
		_, _, err := agree(live, w, 5*time.Second)
		return err
	})
}

func names(nodes []*node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.name)
	}
	return out
}
