package main

// Multi-process tests: every node is a real `mesh join` process on
// 127.0.0.1, and every question goes through the real `mesh status --json`.
// See harness_test.go for the helpers.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Three nodes agree on the membership (three alive members, all voters) and
// on the leader, whichever node is asked.
func TestThreeNodesAgree(t *testing.T) {
	nodes := startMesh(t, 3)
	leader := waitAgreed(t, nodes, 3, 30*time.Second)
	sts, err := askAll(nodes, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Leader != leader.id {
			t.Errorf("leader changed while the mesh was idle: %s", st)
		}
		if st.Voters != 3 {
			t.Errorf("voters_target %d, want the default 3: %s", st.Voters, st)
		}
		for _, n := range nodes {
			m := st.member(n.id)
			if m == nil || m.Name != n.name || m.Role != "voter" || !slices.Contains(m.Addrs, n.addr) {
				t.Errorf("member %s: got %+v, want name %s, voter, addrs including %s", n.name, m, n.name, n.addr)
			}
		}
	}
}

// SIGKILL the leader: the survivors agree on a new leader within 5 s and the
// old one turns dead. Restarted with the same data dir and no peer or secret
// argument, it rejoins by itself as the same member.
func TestLeaderKilledThenRestarted(t *testing.T) {
	nodes := startMesh(t, 3)
	old := waitAgreed(t, nodes, 3, 30*time.Second)
	survivors := without(nodes, old)

	killed := time.Now()
	old.kill()
	var newLeader atomic.Value
	failover, err := pollOverlapping(killed, 100*time.Millisecond, 5*time.Second, func() error {
		return newLeaderAgreed(survivors, old, &newLeader)
	})
	if err != nil {
		t.Fatalf("no new leader agreed by the survivors within 5s of SIGKILL of the leader %s: %v", old.name, err)
	}
	t.Logf("new leader %s agreed by both survivors %v after SIGKILL", byID(t, survivors, newLeader.Load().(string)).name, failover.Round(time.Millisecond))

	// Dead after --dead-after (2 s) counted from the new leader's election;
	// demoted, since a dead voter would count against the quorum.
	waitFor(t, 15*time.Second, "killed leader shown dead", func() error {
		_, sts, err := agree(survivors, want{
			states:      map[string]string{old.id: "dead", survivors[0].id: "alive", survivors[1].id: "alive"},
			aliveVoters: 2,
		}, 5*time.Second)
		if err != nil {
			return err
		}
		if r := sts[0].member(old.id).Role; r == "voter" {
			return fmt.Errorf("dead member is still a voter: %s", sts[0])
		}
		return nil
	})

	oldID, oldAddr := old.id, old.addr
	old.restart() // no peer, no --secret-file: the data dir has all it needs
	if old.id != oldID {
		t.Fatalf("restarted node has peer ID %s, want its old %s", old.id, oldID)
	}
	t.Logf("restarted %s: %s (was %s)", old.name, old.addr, oldAddr)
	waitAgreed(t, nodes, 3, 30*time.Second)
	st, err := old.status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.member(old.id); m == nil || !slices.Contains(m.Addrs, old.addr) {
		t.Errorf("restarted member should be recorded with its new address %s: %+v", old.addr, m)
	}
}

// newLeaderAgreed checks that the survivors agree on a leader other than
// the killed node, asking each with a short timeout; the leader goes to
// *leader.
func newLeaderAgreed(survivors []*node, killed *node, leader *atomic.Value) error {
	sts, err := askAll(survivors, 500*time.Millisecond)
	if err != nil {
		return err
	}
	l, err := agreedLeader(sts)
	if err != nil {
		return err
	}
	if l == killed.id {
		return fmt.Errorf("survivors still follow the killed leader %s", killed.name)
	}
	leader.Store(l)
	return nil
}

// Five nodes keep three voters: when a voter that is not the leader is
// SIGKILLed, a non-voter is promoted and the killed one is dead.
func TestFiveNodesPromoteNonvoter(t *testing.T) {
	nodes := startMesh(t, 5)
	leader := waitAgreed(t, nodes, 3, 30*time.Second)
	st, err := leader.status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var victim *node
	var nonvoters []string
	for _, m := range st.Members {
		switch {
		case m.Role == "nonvoter":
			nonvoters = append(nonvoters, m.ID)
		case m.Role == "voter" && m.ID != leader.id && victim == nil:
			victim = byID(t, nodes, m.ID)
		}
	}
	if victim == nil || len(nonvoters) != 2 {
		t.Fatalf("want 3 voters and 2 non-voters: %s", st)
	}
	survivors := without(nodes, victim)

	victim.kill()
	w := allAlive(survivors, 3)
	w.states[victim.id] = "dead"
	took := waitFor(t, 15*time.Second, "a non-voter promoted to replace the killed voter", func() error {
		got, sts, err := agree(survivors, w, 5*time.Second)
		if err != nil {
			return err
		}
		if got != leader.id {
			return fmt.Errorf("leader changed from %s though it was not killed: %s", leader.name, sts[0])
		}
		for _, st := range sts {
			if st.member(victim.id).Role == "voter" {
				return fmt.Errorf("killed member is still a voter: %s", st)
			}
			promoted := 0
			for _, id := range nonvoters {
				if st.member(id).Role == "voter" {
					promoted++
				}
			}
			if promoted != 1 {
				return fmt.Errorf("%d of the former non-voters are voters, want 1: %s", promoted, st)
			}
		}
		return nil
	})
	t.Logf("non-voter promoted %v after SIGKILL of voter %s", took.Round(time.Millisecond), victim.name)
}

// A node with another mesh's secret cannot join: it exits non-zero saying
// the secret differs, and never appears in the membership.
func TestWrongSecretRefused(t *testing.T) {
	nodes := startMesh(t, 1)
	first := nodes[0]
	waitAgreed(t, nodes, 1, 30*time.Second)

	dir := t.TempDir()
	other := filepath.Join(dir, "other-secret")
	writeSecret(t, other)
	data := filepath.Join(dir, "data")
	start := time.Now()
	code, stdout, stderr := runMesh(t, 90*time.Second, "join", first.addr, "--secret-file", other,
		"--listen", listenLocal, "--data-dir", data, "--name", "intruder", "--join-timeout", "30s")
	took := time.Since(start)
	t.Logf("intruder exited %d after %v", code, took.Round(time.Millisecond))
	// Refused, not merely timed out: a wrong secret shows as a failed
	// handshake, and the join gives up at once instead of retrying until
	// --join-timeout. (A dial with a wrong secret sometimes hangs until the
	// attempt's deadline rather than failing: the join retries then.)
	if code == 0 || !strings.Contains(stderr, "secret") || !strings.Contains(stderr, "handshake failed") || took >= 30*time.Second {
		t.Errorf("join with another mesh's secret: exit %d after %v, want non-zero before --join-timeout 30s, with a message about the secret and the failed handshake\nstdout:\n%s\nstderr:\n%s", code, took, stdout, stderr)
	}
	intruder := peerIDOf(t, data)
	st, err := first.status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.member(intruder) != nil {
		t.Errorf("the refused node %s appears in the membership: %s", short(intruder), st)
	}
	if err := allAlive(nodes, 1).check(st); err != nil {
		t.Error(err)
	}
}

// SIGTERM on a node that is not the leader: it exits 0, is shown left (or
// gone) within 2 s, and the leader stays the same.
func TestGracefulLeave(t *testing.T) {
	nodes := startMesh(t, 3)
	leader := waitAgreed(t, nodes, 3, 30*time.Second)
	leaving := without(nodes, leader)[0]
	rest := without(nodes, leaving)

	sent := time.Now()
	leaving.signal(syscall.SIGTERM)
	var lastErr error
	for {
		st, err := leader.status(time.Second)
		if err == nil {
			m := st.member(leaving.id)
			switch {
			case m != nil && m.State != "left":
				err = fmt.Errorf("%s is %s: %s", leaving.name, m.State, st)
			case st.Leader != leader.id:
				err = fmt.Errorf("leader changed from %s: %s", leader.name, st)
			}
		}
		if err == nil {
			break
		}
		lastErr = err
		if time.Since(sent) > 2*time.Second {
			t.Fatalf("%s not shown left within 2s of SIGTERM: %v", leaving.name, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s shown left %v after SIGTERM", leaving.name, time.Since(sent).Round(time.Millisecond))
	code, took := leaving.waitExit(15*time.Second), time.Since(sent)
	if code != 0 {
		t.Errorf("%s exited %d after SIGTERM, want 0", leaving.name, code)
	}
	// Leaving is one request to the leader; a node that keeps retrying it
	// until its 5 s deadline did not get the leader's acknowledgment.
	if took > 3*time.Second {
		t.Errorf("%s took %v to exit after SIGTERM, want at most 3s", leaving.name, took)
	}
	if log, _ := os.ReadFile(filepath.Join(leaving.dir, "stderr.log")); strings.Contains(string(log), "graceful leave failed") {
		t.Errorf("%s logged that its graceful leave failed", leaving.name)
	}
	t.Logf("%s exited %d, %v after SIGTERM", leaving.name, code, took.Round(time.Millisecond))

	w := allAlive(rest, 2)
	w.states[leaving.id] = "left"
	waitFor(t, 10*time.Second, "the two others agree", func() error {
		got, sts, err := agree(rest, w, 5*time.Second)
		if err == nil && got != leader.id {
			err = fmt.Errorf("leader changed from %s: %s", leader.name, sts[0])
		}
		return err
	})
}

// Bad input: each case exits non-zero with a message that names the problem.
func TestBadInput(t *testing.T) {
	// A running node, for the listen address in use.
	busy := startNode(t, "busy")
	busyPort := tcpPort(t, busy.addr)

	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	writeSecret(t, secret)
	badSecret := filepath.Join(dir, "bad-secret")
	if err := os.WriteFile(badSecret, []byte("not a swarm key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt")
	if err := os.MkdirAll(corrupt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "identity.key"), []byte("garbage, not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", closedPort(t), newPeerID(t))
	missing := filepath.Join(dir, "no-such-secret")
	noTCP := "/ip4/127.0.0.1/udp/4001"

	cases := []struct {
		name    string
		args    []string
		code    int
		want    []string
		maxTime time.Duration
		// untouched is a file the failed command must not create.
		untouched string
	}{
		{
			name: "malformed peer multiaddr",
			args: []string{"join", "not-a-multiaddr", "--secret-file", secret},
			code: 2, want: []string{"not-a-multiaddr", "malformed multiaddr"},
		},
		{
			name: "peer without /tcp/",
			args: []string{"join", noTCP, "--secret-file", secret},
			code: 2, want: []string{noTCP, "/tcp/<port>"},
		},
		{
			name: "unreachable peer",
			args: []string{"join", closed, "--secret-file", secret, "--join-timeout", "2s"},
			code: 1, want: []string{"could not join", "unreachable", "connection refused", strings.Split(closed, "/p2p/")[0]},
			maxTime: 10 * time.Second,
		},
		{
			name: "listen address in use",
			args: []string{"join", "--listen", "/ip4/127.0.0.1/tcp/" + busyPort},
			code: 1, want: []string{"already in use", "/ip4/127.0.0.1/tcp/" + busyPort},
		},
		{
			name: "dashboard address in use",
			args: []string{"join", "--dashboard", "127.0.0.1:" + busyPort},
			code: 1, want: []string{"--dashboard 127.0.0.1:" + busyPort, "already in use", "--dashboard HOST:PORT"},
		},
		{
			name: "missing secret file",
			args: []string{"join", closed, "--secret-file", missing},
			code: 1, want: []string{missing, "secret file not found"},
		},
		{
			name: "malformed secret file",
			args: []string{"join", closed, "--secret-file", badSecret},
			code: 1, want: []string{badSecret, "malformed secret file"},
		},
		{
			name: "corrupt identity key",
			args: []string{"join", "--data-dir", corrupt},
			code: 1, want: []string{filepath.Join(corrupt, "identity.key"), "corrupt"},
			untouched: filepath.Join(corrupt, "secret"),
		},
		{
			name: "status against an unreachable peer",
			args: []string{"status", "--peer", closed, "--secret-file", secret, "--timeout", "2s"},
			code: 1, want: []string{"unreachable", strings.Split(closed, "/p2p/")[0]},
			maxTime: 10 * time.Second,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if args[0] == "join" {
				if !slices.Contains(args, "--data-dir") {
					args = append(args, "--data-dir", t.TempDir())
				}
				if !slices.Contains(args, "--listen") {
					args = append(args, "--listen", listenLocal)
				}
				if !slices.Contains(args, "--dashboard") {
					args = append(args, "--dashboard", "127.0.0.1:0")
				}
			}
			start := time.Now()
			code, stdout, stderr := runMesh(t, 60*time.Second, args...)
			took := time.Since(start)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("message does not mention %q", w)
				}
			}
			if tc.untouched != "" {
				if _, err := os.Stat(tc.untouched); err == nil {
					t.Errorf("the failed command wrote %s", tc.untouched)
				}
			}
			if tc.maxTime > 0 && took > tc.maxTime {
				t.Errorf("took %v, want at most %v", took, tc.maxTime)
			}
			if t.Failed() {
				t.Logf("mesh %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout, stderr)
			}
		})
	}
}

func tcpPort(t *testing.T, addr string) string {
	t.Helper()
	parts := strings.Split(addr, "/")
	for i, p := range parts {
		if p == "tcp" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	t.Fatalf("no tcp port in %s", addr)
	return ""
}

// closedPort returns a port on 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestMeasure (MESH_MEASURE=N) measures, over N runs of real processes, the
// time from starting three fresh nodes to an agreed 3-node mesh, and the
// failover time from SIGKILL of the leader to a new leader agreed by both
// survivors; it prints p50 and max of each.
func TestMeasure(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("MESH_MEASURE"))
	if runs <= 0 {
		t.Skip("set MESH_MEASURE=N to measure formation and failover over N runs")
	}
	var form, failover []time.Duration
	for i := range runs {
		t.Run(fmt.Sprintf("run%d", i+1), func(t *testing.T) {
			start := time.Now()
			nodes := startMesh(t, 3)
			var leaderID string
			for {
				var err error
				leaderID, _, err = agree(nodes, allAlive(nodes, 3), 5*time.Second)
				if err == nil {
					break
				}
				if time.Since(start) > 60*time.Second {
					t.Fatalf("no agreed mesh within 60s: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			f := time.Since(start)
			leader := byID(t, nodes, leaderID)
			survivors := without(nodes, leader)
			killed := time.Now()
			leader.kill()
			var newLeader atomic.Value
			fo, err := pollOverlapping(killed, 100*time.Millisecond, 60*time.Second, func() error {
				return newLeaderAgreed(survivors, leader, &newLeader)
			})
			if err != nil {
				t.Fatalf("no new leader within 60s: %v", err)
			}
			form, failover = append(form, f), append(failover, fo)
			t.Logf("formation %v, failover %v", f.Round(time.Millisecond), fo.Round(time.Millisecond))
		})
	}
	report := func(what string, ds []time.Duration) {
		if len(ds) == 0 {
			return
		}
		slices.Sort(ds)
		t.Logf("%-52s n=%d  p50=%v  max=%v", what, len(ds), ds[(len(ds)-1)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	report("start 3 processes -> agreed 3-node mesh:", form)
	report("SIGKILL leader -> new leader agreed by survivors:", failover)
}

// `mesh leave --data-dir` asks a running node to do what SIGTERM does: it
// leaves (shown left), its process exits 0, and the command says so.
func TestLeaveCommand(t *testing.T) {
	nodes := startMesh(t, 3)
	leader := waitAgreed(t, nodes, 3, 30*time.Second)
	leaving := without(nodes, leader)[0]
	code, stdout, stderr := runMesh(t, 60*time.Second, "leave", "--data-dir", leaving.dir, "--json")
	if code != 0 || !strings.Contains(stdout, `"gone":true`) {
		t.Fatalf("mesh leave: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if code := leaving.waitExit(15 * time.Second); code != 0 {
		t.Errorf("%s exited %d after mesh leave, want 0", leaving.name, code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := leader.status(time.Second)
		if err == nil {
			if m := st.member(leaving.id); m == nil || m.State == "left" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not shown left: %v %v", leaving.name, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A node that is not running: a clear error, not a hang.
	code, _, stderr = runMesh(t, 30*time.Second, "leave", "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "no node address") {
		t.Errorf("mesh leave of an empty data dir: exit %d, stderr %s", code, stderr)
	}
}
