package main

// Harness for the multi-process tests in e2e_test.go: it builds the real
// mesh binary once, starts nodes as separate processes on 127.0.0.1 (port 0,
// each with its own data dir), asks them for their status with the real
// `mesh status --json`, and kills every process it started when the test
// ends.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// meshBin is the binary TestMain builds.
var meshBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mesh-e2e-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	meshBin = filepath.Join(dir, "mesh")
	build := exec.Command(goTool(), "build", "-o", meshBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/mesh:", err)
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

// childEnv is the environment of every process the tests start: without
// MESH_* variables, which the command would take as flags.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MESH_") })
}

// node is one `mesh join` process (or several, one after another, when it
// is restarted with the same data dir).
type node struct {
	t    *testing.T
	name string
	dir  string // data dir; also holds stdout.log and stderr.log

	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	waitErr error         // cmd.Wait's result, valid once done is closed

	id   string // peer ID, from the addr file
	addr string // full multiaddr, first line of the addr file
}

// startNode starts `mesh join <args...> --listen 127.0.0.1:0 --data-dir
// <new temp dir> --name <name>` (--listen only if args have none) and waits
// until it has written its address.
func startNode(t *testing.T, name string, args ...string) *node {
	t.Helper()
	n := &node{t: t, name: name, dir: t.TempDir()}
	t.Cleanup(n.cleanup)
	n.start(args...)
	n.waitAddr(30 * time.Second)
	return n
}

// startMesh starts a new mesh of count nodes: the first creates it, the
// others join through it with a copy of its secret (started together).
// Every node gets the extra join flags.
func startMesh(t *testing.T, count int, extra ...string) []*node {
	t.Helper()
	first := startNode(t, "n1", extra...)
	nodes := []*node{first}
	for i := 2; i <= count; i++ {
		n := &node{t: t, name: fmt.Sprintf("n%d", i), dir: t.TempDir()}
		t.Cleanup(n.cleanup)
		n.start(append([]string{first.addr, "--secret-file", filepath.Join(first.dir, "secret")}, extra...)...)
		nodes = append(nodes, n)
	}
	for _, n := range nodes[1:] {
		n.waitAddr(30 * time.Second)
	}
	return nodes
}

func (n *node) start(args ...string) {
	n.t.Helper()
	// The dashboard on a free loopback port (a test may pass its own).
	// A free loopback port, unless the test chose its --listen.
	args = append([]string{"join", "--dashboard", "127.0.0.1:0"}, args...)
	if !slices.Contains(args, "--listen") {
		args = append(args, "--listen", listenLocal)
	}
	args = append(args, "--data-dir", n.dir, "--name", n.name)
	cmd := exec.Command(meshBin, args...)
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

// restart starts the node again with the same data dir (after it exited).
func (n *node) restart(args ...string) {
	n.t.Helper()
	if n.running() {
		n.t.Fatalf("restart %s: still running", n.name)
	}
	// The old address file would satisfy waitAddr at once.
	if err := os.Remove(filepath.Join(n.dir, "addr")); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.t.Fatal(err)
	}
	n.start(args...)
	n.waitAddr(30 * time.Second)
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
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
}

func (n *node) signal(sig os.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("signal %v to %s: %v", sig, n.name, err)
	}
}

// waitExit waits up to timeout for the process to exit and returns its exit
// code.
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

// runMesh runs the binary to completion (killed after timeout) and returns
// its exit code, stdout and stderr.
func runMesh(t *testing.T, timeout time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, meshBin, args...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mesh %s: still running after %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), timeout, out.String(), errb.String())
	}
	if err != nil && exitCode(err) < 0 {
		t.Fatalf("mesh %s: %v", strings.Join(args, " "), err)
	}
	return exitCode(err), out.String(), errb.String()
}

// The JSON `mesh status --json` prints (the fields the tests rely on).
type memberJSON struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Addrs  []string `json:"addrs"`
	Role   string   `json:"role"`
	State  string   `json:"state"`
	Leader bool     `json:"leader"`
}

type statusJSON struct {
	Leader     string       `json:"leader"`
	Term       uint64       `json:"term"`
	Voters     int          `json:"voters_target"`
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
	fmt.Fprintf(&b, "via %s: leader=%s term=%d stale=%v answered_by=%s members=[", s.via, short(s.Leader), s.Term, s.Stale, short(s.AnsweredBy))
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

// status runs `mesh status --data-dir <n.dir> --json --timeout <timeout>`:
// the node is found through its addr and secret files.
func (n *node) status(timeout time.Duration) (*statusJSON, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, meshBin, "status", "--data-dir", n.dir, "--json", "--timeout", timeout.String())
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mesh status via %s: %v: %s", n.name, err, strings.TrimSpace(errb.String()))
	}
	var st statusJSON
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("mesh status via %s: bad JSON (%v): %s", n.name, err, out.String())
	}
	st.via = n.name
	return &st, nil
}

// askAll asks every node (in parallel) for the status.
func askAll(nodes []*node, timeout time.Duration) ([]*statusJSON, error) {
	sts := make([]*statusJSON, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { sts[i], errs[i] = n.status(timeout) })
	}
	wg.Wait()
	return sts, errors.Join(errs...)
}

// agreedLeader checks that every answer comes from a node that knows the
// leader (not a stale local view) and that all name the same leader.
func agreedLeader(sts []*statusJSON) (string, error) {
	leader := ""
	for _, st := range sts {
		switch {
		case st.Leader == "":
			return "", fmt.Errorf("no leader known: %s", st)
		case st.Stale:
			return "", fmt.Errorf("stale answer (leader unreachable): %s", st)
		case st.AnsweredBy != st.Leader:
			return "", fmt.Errorf("answered by %s, not by the leader: %s", short(st.AnsweredBy), st)
		case leader != "" && st.Leader != leader:
			return "", fmt.Errorf("leaders differ: %s vs %s (%s)", short(leader), short(st.Leader), st)
		}
		leader = st.Leader
	}
	return leader, nil
}

// want describes the membership a status must show: the state of each
// listed member (by peer ID), that no other member is there, and how many
// alive voters there are.
type want struct {
	states      map[string]string
	aliveVoters int
}

func (w want) check(st *statusJSON) error {
	if len(st.Members) != len(w.states) {
		return fmt.Errorf("%d members, want %d: %s", len(st.Members), len(w.states), st)
	}
	voters := 0
	for _, m := range st.Members {
		ws, ok := w.states[m.ID]
		if !ok {
			return fmt.Errorf("unexpected member %s: %s", short(m.ID), st)
		}
		if m.State != ws {
			return fmt.Errorf("%s is %s, want %s: %s", m.Name, m.State, ws, st)
		}
		if m.Leader != (m.ID == st.Leader) {
			return fmt.Errorf("%s: leader flag %v disagrees with leader %s: %s", m.Name, m.Leader, short(st.Leader), st)
		}
		if m.State == "alive" && m.Role == "voter" {
			voters++
		}
	}
	if voters != w.aliveVoters {
		return fmt.Errorf("%d alive voters, want %d: %s", voters, w.aliveVoters, st)
	}
	return nil
}

// agree asks every node in via and checks that they agree on a leader and
// that every answer shows the wanted membership; it returns the leader.
func agree(via []*node, w want, timeout time.Duration) (string, []*statusJSON, error) {
	sts, err := askAll(via, timeout)
	if err != nil {
		return "", nil, err
	}
	leader, err := agreedLeader(sts)
	if err != nil {
		return "", sts, err
	}
	for _, st := range sts {
		if err := w.check(st); err != nil {
			return "", sts, err
		}
	}
	return leader, sts, nil
}

func allAlive(nodes []*node, aliveVoters int) want {
	w := want{states: map[string]string{}, aliveVoters: aliveVoters}
	for _, n := range nodes {
		w.states[n.id] = "alive"
	}
	return w
}

// pollOverlapping starts fn every interval, without waiting for the runs
// still under way, until one succeeds or timeout (counted from since)
// passes. It returns how long after since the first success came back, or
// the last error. A status
// query sent to a node that still forwards to a dead leader hangs until its
// own timeout; overlapping the polls keeps such a query from delaying the
// observation of a new leader by its whole timeout.
func pollOverlapping(since time.Time, interval, timeout time.Duration, fn func() error) (time.Duration, error) {
	errs := make(chan error, int(timeout/interval)+2)
	var wg sync.WaitGroup
	defer wg.Wait() // no poll (nor the processes it runs) outlives the call
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.After(time.Until(since.Add(timeout)))
	launch := func() { wg.Go(func() { errs <- fn() }) }
	launch()
	var last error
	for {
		select {
		case err := <-errs:
			if err == nil {
				return time.Since(since), nil
			}
			last = err
		case <-tick.C:
			launch()
		case <-deadline:
			if last == nil {
				last = errors.New("no poll finished")
			}
			return time.Since(since), last
		}
	}
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

// waitAgreed waits until all nodes agree on a leader and show exactly
// these nodes alive with aliveVoters voters; it returns the leader's node.
func waitAgreed(t *testing.T, nodes []*node, aliveVoters int, timeout time.Duration) *node {
	t.Helper()
	var leader string
	waitFor(t, timeout, fmt.Sprintf("%d nodes agree", len(nodes)), func() (err error) {
		leader, _, err = agree(nodes, allAlive(nodes, aliveVoters), 5*time.Second)
		return err
	})
	return byID(t, nodes, leader)
}

func byID(t *testing.T, nodes []*node, id string) *node {
	t.Helper()
	for _, n := range nodes {
		if n.id == id {
			return n
		}
	}
	t.Fatalf("leader %s is none of the nodes started", id)
	return nil
}

func without(nodes []*node, drop ...*node) []*node {
	return slices.DeleteFunc(slices.Clone(nodes), func(n *node) bool { return slices.Contains(drop, n) })
}

// chaos sends one request to the node's partition switch (a node started
// with --chaos; its address is in <dir>/chaos-addr) and returns the peers
// it answers are blocked.
func (n *node) chaos(method, path string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(n.dir, "chaos-addr"))
	if err != nil {
		return nil, fmt.Errorf("%s: no chaos endpoint: %w", n.name, err)
	}
	req, err := http.NewRequest(method, "http://"+strings.TrimSpace(string(data))+path, nil)
	if err != nil {
		return nil, err
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", n.name, method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s %s: %s: %s", n.name, method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		Blocked []string `json:"blocked"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Blocked == nil {
		return nil, fmt.Errorf("%s: %s %s: bad answer %q (%v)", n.name, method, path, body, err)
	}
	return out.Blocked, nil
}

// writeSecret writes a fresh secret in swarm.key format (another mesh's).
func writeSecret(t *testing.T, path string) {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("/key/swarm/psk/1.0.0/\n/base16/\n"+hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newPeerID returns a valid peer ID no node has.
func newPeerID(t *testing.T) string {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// peerIDOf reads the peer ID of the identity key in a data dir.
func peerIDOf(t *testing.T, dataDir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// waitStdout waits until the node's stdout.log holds at least count lines
// containing substr and returns the whole log. The node writes its address
// file before it prints its start lines, so a test that reads stdout.log
// right after waitAddr must poll for the line it needs.
func (n *node) waitStdout(substr string, count int, timeout time.Duration) string {
	n.t.Helper()
	var out string
	waitFor(n.t, timeout, fmt.Sprintf("%s printing %q %d time(s)", n.name, substr, count), func() error {
		b, err := os.ReadFile(filepath.Join(n.dir, "stdout.log"))
		if err != nil {
			return err
		}
		out = string(b)
		if got := strings.Count(out, substr); got < count {
			return fmt.Errorf("printed %d time(s); stdout so far:\n%s", got, out)
		}
		return nil
	})
	return out
}
