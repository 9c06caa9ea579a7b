package e2e

// Harness for the multi-process tests in e2e_test.go, adapted from
// cmd/mesh/harness_test.go: TestMain builds testprog (the mesh binary plus
// the e2e.* task functions) once; startMesh starts `testprog join`
// processes on 127.0.0.1 (port 0, each with its own data dir) with short
// failure detection; status questions go through the real
// `testprog status --json`. Every process is killed when its test ends, and
// the logs of all of them are printed if the test failed.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/futures"
	meshpkg "github.com/meshcompute/mesh/mesh"
)

// progBin is the testprog binary TestMain builds.
var progBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mesh-futures-e2e-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	progBin = filepath.Join(dir, "testprog")
	build := exec.Command(goTool(), "build", "-o", progBin, "./testprog")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./futures/e2e/testprog:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

const listenLocal = "/ip4/127.0.0.1/tcp/0"

// nodeFlags are given to every node: fast failure detection (a SIGKILLed
// node is dead after about a second) and two task threads whatever the
// machine.
var nodeFlags = []string{"--dead-after", "1s", "--heartbeat", "100ms", "--threads", "2", "--log-level", "info"}

// childEnv is the environment of every process the tests start: without
// MESH_* variables, which the command would take as flags.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MESH_") })
}

// node is one `testprog join` process.
type node struct {
	t    *testing.T
	name string
	dir  string // data dir; also holds stdout.log and stderr.log

	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	waitErr error         // cmd.Wait's result, valid once done is closed

	flags []string // after nodeFlags

	// mayExit: the test expects the process to end (it killed it, or a
	// task will take it down); otherwise an exit is a failure.
	mayExit bool

	id   string // peer ID, from the addr file
	addr string // full multiaddr, first line of the addr file
}

// cluster is a running test mesh.
type cluster struct {
	t      *testing.T
	nodes  []*node
	secret string // path of the mesh's secret file, for futures.WithSecretFile
}

// startMesh starts a new mesh of count nodes named node1..nodeN: node1
// creates it, the others join through it with its secret (started
// together), all with nodeFlags and then flags. It waits until all agree
// on the leader and see every node alive, with min(count, 3) voters.
func startMesh(t *testing.T, count int, flags ...string) *cluster {
	t.Helper()
	m := &cluster{t: t}
	for i := 1; i <= count; i++ {
		n := &node{t: t, name: fmt.Sprintf("node%d", i), dir: t.TempDir(), flags: flags}
		t.Cleanup(n.cleanup)
		m.nodes = append(m.nodes, n)
	}
	first := m.nodes[0]
	first.start()
	first.waitAddr(30 * time.Second)
	m.secret = filepath.Join(first.dir, "secret")
	for _, n := range m.nodes[1:] {
		n.start(first.addr, "--secret-file", m.secret)
	}
	for _, n := range m.nodes[1:] {
		n.waitAddr(30 * time.Second)
	}
	m.waitAgreed(m.nodes, min(count, 3), 30*time.Second)
	return m
}

func (n *node) start(args ...string) {
	n.t.Helper()
	args = append(append([]string{"join"}, args...), "--listen", listenLocal, "--data-dir", n.dir, "--name", n.name)
	args = append(append(args, nodeFlags...), n.flags...)
	cmd := exec.Command(progBin, args...)
	cmd.Env = childEnv()
	cmd.Stdout = n.logFile("stdout.log")
	cmd.Stderr = n.logFile("stderr.log")
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %s: %v", n.name, err)
	}
	cmd.Stdout.(*os.File).Close()
	cmd.Stderr.(*os.File).Close()
	n.cmd, n.done, n.waitErr = cmd, make(chan struct{}), nil
	done := n.done
	go func() {
		err := cmd.Wait()
		n.waitErr = err
		close(done)
	}()
}

func (n *node) logFile(name string) *os.File {
	n.t.Helper()
	f, err := os.OpenFile(filepath.Join(n.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	fmt.Fprintf(f, "==== %s: process started at %s\n", n.name, time.Now().Format(time.RFC3339Nano))
	return f
}

// waitAddr waits until the running process has written <dir>/addr.
func (n *node) waitAddr(timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-n.done:
			n.t.Fatalf("%s exited before writing its address: %v", n.name, n.waitErr)
		default:
		}
		if data, err := os.ReadFile(filepath.Join(n.dir, "addr")); err == nil {
			if lines := strings.Fields(string(data)); len(lines) > 0 {
				info, err := peer.AddrInfoFromString(lines[0])
				if err != nil {
					n.t.Fatalf("%s wrote a bad address %q: %v", n.name, lines[0], err)
				}
				n.addr, n.id = lines[0], info.ID.String()
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s wrote no address within %v", n.name, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.t.Helper()
	n.mayExit = true
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
}

// waitExit waits up to timeout for the process to exit by itself and
// returns its exit code.
func (n *node) waitExit(timeout time.Duration) int {
	n.t.Helper()
	select {
	case <-n.done:
	case <-time.After(timeout):
		n.t.Fatalf("%s did not exit within %v", n.name, timeout)
	}
	return exitCode(n.waitErr)
}

func (n *node) cleanup() {
	if n.done != nil && !n.running() && !n.mayExit {
		n.t.Errorf("%s exited by itself during the test: %v", n.name, n.waitErr)
	}
	n.mayExit = true
	n.kill()
	if n.t.Failed() {
		for _, f := range []string{"stdout.log", "stderr.log"} {
			data, err := os.ReadFile(filepath.Join(n.dir, f))
			if err != nil {
				continue
			}
			n.t.Logf("---- %s %s (%s) ----\n%s", n.name, f, n.id, data)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// The JSON `testprog status --json` prints (the fields the tests use).
type memberJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	State  string `json:"state"`
	Leader bool   `json:"leader"`
}

type statusJSON struct {
	Leader     string       `json:"leader"`
	Term       uint64       `json:"term"`
	AnsweredBy string       `json:"answered_by"`
	Stale      bool         `json:"stale"`
	Members    []memberJSON `json:"members"`

	via string // the node asked (test bookkeeping)
}

func (s *statusJSON) member(id string) *memberJSON {
	for i := range s.Members {
		if s.Members[i].ID == id {
			return &s.Members[i]
		}
	}
	return nil
}

func (s *statusJSON) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "via %s: leader=%s term=%d stale=%v members=[", s.via, short(s.Leader), s.Term, s.Stale)
	for i, m := range s.Members {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s(%s)/%s/%s", m.Name, short(m.ID), m.Role, m.State)
	}
	b.WriteString("]")
	return b.String()
}

func short(id string) string {
	if len(id) > 8 {
		return "…" + id[len(id)-6:]
	}
	return id
}

// status runs `testprog status --data-dir <n.dir> --json`.
func (n *node) status(timeout time.Duration) (*statusJSON, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, progBin, "status", "--data-dir", n.dir, "--json", "--timeout", timeout.String())
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("status via %s: %v: %s", n.name, err, strings.TrimSpace(errb.String()))
	}
	var st statusJSON
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("status via %s: bad JSON (%v): %s", n.name, err, out.String())
	}
	st.via = n.name
	return &st, nil
}

// agreed asks every node in via (in parallel) and checks that all answers
// come from the same leader and show exactly the nodes of states, in those
// states, with aliveVoters alive voters. It returns the leader's answer.
func (m *cluster) agreed(via []*node, states map[string]string, aliveVoters int) (*statusJSON, error) {
	sts := make([]*statusJSON, len(via))
	errs := make([]error, len(via))
	var wg sync.WaitGroup
	for i, n := range via {
		wg.Go(func() { sts[i], errs[i] = n.status(5 * time.Second) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, st := range sts {
		switch {
		case st.Leader == "":
			return nil, fmt.Errorf("no leader known: %s", st)
		case st.Stale || st.AnsweredBy != st.Leader:
			return nil, fmt.Errorf("not answered by the leader: %s", st)
		case st.Leader != sts[0].Leader:
			return nil, fmt.Errorf("leaders differ: %s vs %s", sts[0], st)
		case len(st.Members) != len(states):
			return nil, fmt.Errorf("%d members, want %d: %s", len(st.Members), len(states), st)
		}
		voters := 0
		for _, mb := range st.Members {
			want, ok := states[mb.ID]
			if !ok {
				return nil, fmt.Errorf("unexpected member %s: %s", short(mb.ID), st)
			}
			if mb.State != want {
				return nil, fmt.Errorf("%s is %s, want %s: %s", mb.Name, mb.State, want, st)
			}
			if mb.State == "alive" && mb.Role == "voter" {
				voters++
			}
		}
		if voters != aliveVoters {
			return nil, fmt.Errorf("%d alive voters, want %d: %s", voters, aliveVoters, st)
		}
	}
	return sts[0], nil
}

// waitAgreed waits until the nodes of via agree on a leader and see all of
// them alive (and no other member), with aliveVoters voters; it returns
// the leader's status.
func (m *cluster) waitAgreed(via []*node, aliveVoters int, timeout time.Duration) *statusJSON {
	m.t.Helper()
	states := map[string]string{}
	for _, n := range via {
		states[n.id] = "alive"
	}
	var st *statusJSON
	waitFor(m.t, timeout, fmt.Sprintf("%d nodes agree", len(via)), func() (err error) {
		st, err = m.agreed(via, states, aliveVoters)
		return err
	})
	return st
}

// waitDead waits until the other nodes agree that the dead nodes are dead
// and they themselves alive, with aliveVoters voters.
func (m *cluster) waitDead(aliveVoters int, dead ...*node) {
	m.t.Helper()
	var survivors []*node
	states := map[string]string{}
	for _, n := range m.nodes {
		if slices.Contains(dead, n) {
			states[n.id] = "dead"
		} else {
			states[n.id] = "alive"
			survivors = append(survivors, n)
		}
	}
	waitFor(m.t, 15*time.Second, fmt.Sprintf("%d nodes shown dead", len(dead)), func() error {
		_, err := m.agreed(survivors, states, aliveVoters)
		return err
	})
}

// byID returns the node with peer ID id.
func (m *cluster) byID(id string) *node {
	m.t.Helper()
	for _, n := range m.nodes {
		if n.id == id {
			return n
		}
	}
	m.t.Fatalf("%s is none of the nodes started", id)
	return nil
}

// roles returns the leader's node and the others, as the first node's
// status shows them.
func (m *cluster) roles() (leader *node, followers []*node) {
	m.t.Helper()
	st, err := m.nodes[0].status(5 * time.Second)
	if err != nil {
		m.t.Fatal(err)
	}
	leader = m.byID(st.Leader)
	for _, n := range m.nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	return leader, followers
}

// connect connects a futures client through node via; it is closed when
// the test ends (before the nodes are killed).
func (m *cluster) connect(via *node) *futures.Client {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := futures.Connect(ctx, via.addr, futures.WithSecretFile(m.secret))
	if err != nil {
		m.t.Fatalf("connect through %s: %v", via.name, err)
	}
	m.t.Cleanup(func() { c.Close() })
	return c
}

// heldBy asks node n's store (with a FetchValues request, as a client's
// Gather does) which of keys it holds, and returns how many.
func (m *cluster) heldBy(n *node, keys []string) int {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	secret, err := meshpkg.ReadSecretFile(m.secret)
	if err != nil {
		m.t.Fatal(err)
	}
	info, err := meshpkg.ParsePeerAddr(n.addr)
	if err != nil {
		m.t.Fatal(err)
	}
	cl, err := actors.Dial(ctx, secret, []peer.AddrInfo{info}, nil)
	if err != nil {
		m.t.Fatalf("dial %s: %v", n.name, err)
	}
	defer cl.Close()
	r, err := cl.Request(ctx, info.ID, actors.StoreID, &actors.FetchValues{Keys: keys})
	if err != nil {
		m.t.Fatalf("ask %s's store: %v", n.name, err)
	}
	reply, ok := r.(*actors.FetchReply)
	if !ok {
		m.t.Fatalf("ask %s's store: reply %T", n.name, r)
	}
	held := 0
	for _, v := range reply.Values {
		if v != nil {
			held++
		}
	}
	return held
}

// waitFor polls fn until it succeeds or timeout passes; it returns how long
// it took.
func waitFor(t *testing.T, timeout time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := fn()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ctxFor returns a context that ends after d or with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
