package chaos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/futures"
	meshpkg "github.com/meshcompute/mesh/mesh"
)

// BuildNode builds the suite's node binary (chaos/chaosnode) into dir and
// returns its path. race builds it with the race detector (slower nodes,
// data races reported in their logs and caught by the log checker).
func BuildNode(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "chaosnode")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/meshcompute/mesh/chaos/chaosnode")
	cmd := exec.Command(goTool(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return bin, nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Config describes a cluster to start.
type Config struct {
	Binary string // a mesh binary that knows the workload functions (BuildNode)
	Nodes  int
	// Dir holds the nodes' data dirs (node1, node2, ...); empty: a new
	// temporary dir, removed by Close unless Keep.
	Dir  string
	Keep bool
	// Flags are given to every node after the suite's own (fast failure
	// detection, two threads, pprof on a free port, --chaos when the
	// binary has it).
	Flags []string
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

// NodeLogLevelEnv, when set (e.g. CHAOS_NODE_LOG_LEVEL=debug), is every
// node's --log-level: the logs a failed scenario prints say more.
const NodeLogLevelEnv = "CHAOS_NODE_LOG_LEVEL"

// NodeFlags are the suite's flags for every node: a SIGKILLed node is dead
// after a second; two task threads whatever the machine.
var NodeFlags = []string{"--dead-after", "1s", "--heartbeat", "100ms", "--threads", "2", "--log-level", "info"}

// Node is one node of a Cluster: a data dir and the processes run on it,
// one after another when it is restarted.
type Node struct {
	Name string
	Dir  string
	c    *Cluster

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	waitErr error
	starts  int
	// expectDown: the harness killed it (or it is expected to exit);
	// otherwise an exit is a crash.
	expectDown bool
	paused     bool
	pauseGen   int
	id         string
	addr       string
	// port is the TCP port of the node's first process: a restart
	// listens on it again, as a restarted host would.
	port string
}

// ID is the node's peer ID (stable across restarts).
func (n *Node) ID() string { n.mu.Lock(); defer n.mu.Unlock(); return n.id }

// Addr is the node's multiaddr (its port changes when it restarts).
func (n *Node) Addr() string { n.mu.Lock(); defer n.mu.Unlock(); return n.addr }

// Starts is how many processes have run on the node's data dir.
func (n *Node) Starts() int { n.mu.Lock(); defer n.mu.Unlock(); return n.starts }

// Running reports whether the node's current process is alive (a paused
// process is alive).
func (n *Node) Running() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Paused reports whether the node is stopped with SIGSTOP.
func (n *Node) Paused() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.paused }

// Crashed returns the exit of a process the harness did not kill, if any.
func (n *Node) Crashed() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done == nil || n.expectDown {
		return nil
	}
	select {
	case <-n.done:
		return fmt.Errorf("%s exited by itself: %v", n.Name, n.waitErr)
	default:
		return nil
	}
}

func (n *Node) String() string { return n.Name }

// Cluster is a mesh of real processes on 127.0.0.1 with a fault injector.
type Cluster struct {
	cfg      Config
	Nodes    []*Node
	Secret   string // path of the mesh's secret file
	Timeline *Timeline
	hasChaos bool // the binary has the --chaos switch (partitions)

	dir     string
	tempDir bool

	smu    sync.Mutex
	status *actors.Client // asks nodes for their status
	closed bool
}

// Start starts a new mesh of cfg.Nodes nodes named node1..nodeN (node1
// creates it, the others join through it) and waits until they agree on a
// leader and all see each other alive.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, errors.New("chaos.Start: want at least one node")
	}
	c := &Cluster{cfg: cfg, Timeline: NewTimeline(), dir: cfg.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "mesh-chaos-*")
		if err != nil {
			return nil, err
		}
		c.dir, c.tempDir = d, true
	}
	help, _ := exec.Command(cfg.Binary, "join", "--help").CombinedOutput()
	c.hasChaos = bytes.Contains(help, []byte("--chaos"))
	for i := 1; i <= cfg.Nodes; i++ {
		n := &Node{Name: fmt.Sprintf("node%d", i), Dir: filepath.Join(c.dir, fmt.Sprintf("node%d", i)), c: c}
		if err := os.MkdirAll(n.Dir, 0o700); err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	first := c.Nodes[0]
	if err := first.start(); err != nil {
		c.Close()
		return nil, err
	}
	if err := first.waitAddr(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.Secret = filepath.Join(first.Dir, meshpkg.SecretFile)
	for _, n := range c.Nodes[1:] {
		if err := n.start(first.Addr(), "--secret-file", c.Secret); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, n := range c.Nodes[1:] {
		if err := n.waitAddr(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := c.WaitAgreed(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("new mesh of %d nodes: %w", cfg.Nodes, err)
	}
	c.logf("mesh of %d nodes up in %s", cfg.Nodes, c.dir)
	return c, nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

// HasPartitions reports whether the nodes have the --chaos switch.
func (c *Cluster) HasPartitions() bool { return c.hasChaos }

func childEnv(execLog string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MESH_") || strings.HasPrefix(kv, ExecLogEnv+"=")
	})
	return append(env, ExecLogEnv+"="+execLog)
}

// start starts a process on the node's data dir.
func (n *Node) start(args ...string) error {
	c := n.c
	// Files a previous process wrote describe it, not the new one.
	for _, f := range []string{actors.AddrFile, "chaos-addr"} {
		os.Remove(filepath.Join(n.Dir, f))
	}
	n.mu.Lock()
	port := n.port
	n.mu.Unlock()
	if port == "" {
		port = "0"
	}
	args = append(append([]string{"join"}, args...), "--listen", "/ip4/127.0.0.1/tcp/"+port, "--data-dir", n.Dir, "--name", n.Name,
		"--pprof", "127.0.0.1:0")
	args = append(args, NodeFlags...)
	if c.hasChaos {
		args = append(args, "--chaos")
	}
	args = append(args, c.cfg.Flags...)
	if lvl := os.Getenv(NodeLogLevelEnv); lvl != "" {
		args = append(args, "--log-level", lvl) // the last one counts
	}
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.Env = childEnv(filepath.Join(n.Dir, "exec.log"))
	n.mu.Lock()
	n.starts++
	starts := n.starts
	n.mu.Unlock()
	var files []*os.File
	for _, name := range []string{"stdout.log", "stderr.log"} {
		f, err := os.OpenFile(filepath.Join(n.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintf(f, "==== %s: process %d started at %s\n", n.Name, starts, time.Now().Format(time.RFC3339Nano))
		files = append(files, f)
	}
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	err := cmd.Start()
	files[0].Close()
	files[1].Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.waitErr, n.expectDown, n.paused = cmd, done, nil, false, false
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// waitAddr waits until the running process has written <dir>/addr.
func (n *Node) waitAddr(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		n.mu.Lock()
		done := n.done
		n.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("%s exited before writing its address: %v\n%s", n.Name, n.waitErr, n.LogTail(30))
		default:
		}
		if data, err := os.ReadFile(filepath.Join(n.Dir, actors.AddrFile)); err == nil {
			if lines := strings.Fields(string(data)); len(lines) > 0 {
				info, err := peer.AddrInfoFromString(lines[0])
				if err != nil {
					return fmt.Errorf("%s wrote a bad address %q: %v", n.Name, lines[0], err)
				}
				n.mu.Lock()
				n.addr, n.id = lines[0], info.ID.String()
				if n.port == "" && len(info.Addrs) > 0 {
					n.port, _ = info.Addrs[0].ValueForProtocol(ma.P_TCP)
				}
				n.mu.Unlock()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s wrote no address: %w", n.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close kills every process of the cluster (SIGKILL, waited for) and
// removes its temporary dir unless Keep. It leaves no process behind.
func (c *Cluster) Close() error {
	c.smu.Lock()
	c.closed = true
	if c.status != nil {
		c.status.Close()
		c.status = nil
	}
	c.smu.Unlock()
	for _, n := range c.Nodes {
		n.kill(true)
	}
	if c.tempDir && !c.cfg.Keep {
		return os.RemoveAll(c.dir)
	}
	return nil
}

// Dir is where the nodes' data dirs are.
func (c *Cluster) Dir() string { return c.dir }

// kill SIGKILLs the node's process and waits until it is gone.
func (n *Node) kill(expected bool) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	if expected {
		n.expectDown = true
	}
	n.paused = false
	n.pauseGen++
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-done
}

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil || !n.Running() {
		return fmt.Errorf("%s is not running", n.Name)
	}
	return cmd.Process.Signal(sig)
}

// Live returns the nodes whose process runs (paused ones included).
func (c *Cluster) Live() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// ByID returns the node with peer ID id, or nil.
func (c *Cluster) ByID(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID() == id {
			return n
		}
	}
	return nil
}

// ByName returns the node called name, or nil.
func (c *Cluster) ByName(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// statusClient returns the harness's own connection for status questions.
func (c *Cluster) statusClient(ctx context.Context) (*actors.Client, error) {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.closed {
		return nil, errors.New("cluster closed")
	}
	if c.status != nil {
		return c.status, nil
	}
	secret, err := meshpkg.ReadSecretFile(c.Secret)
	if err != nil {
		return nil, err
	}
	var infos []peer.AddrInfo
	for _, n := range c.Nodes {
		if a := n.Addr(); a != "" && n.Running() && !n.Paused() {
			if info, err := meshpkg.ParsePeerAddr(a); err == nil {
				infos = append(infos, info)
			}
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := actors.Dial(dctx, secret, infos, nil)
	if err != nil {
		return nil, err
	}
	c.status = cl
	return cl, nil
}

// Status asks node n for the mesh's status (n forwards to the leader).
func (c *Cluster) Status(ctx context.Context, n *Node) (*actors.Status, error) {
	cl, err := c.statusClient(ctx)
	if err != nil {
		return nil, err
	}
	info, err := meshpkg.ParsePeerAddr(n.Addr())
	if err != nil {
		return nil, err
	}
	cl.AddPeer(info)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := cl.StatusFrom(ctx, info.ID)
	if err != nil {
		return nil, fmt.Errorf("status via %s: %w", n.Name, err)
	}
	return st, nil
}

// SchedulerRunning asks node n whether it runs a scheduler actor (only a
// leader should). It returns an error when n cannot be asked.
func (c *Cluster) SchedulerRunning(ctx context.Context, n *Node) (bool, error) {
	cl, err := c.statusClient(ctx)
	if err != nil {
		return false, err
	}
	info, err := meshpkg.ParsePeerAddr(n.Addr())
	if err != nil {
		return false, err
	}
	cl.AddPeer(info)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := cl.Request(ctx, info.ID, actors.SchedulerID, &actors.SchedulerInfoRequest{})
	if err != nil {
		if strings.Contains(err.Error(), "no_actor") || strings.Contains(err.Error(), "no actor") {
			return false, nil
		}
		return false, err
	}
	_, ok := r.(*actors.SchedulerInfo)
	return ok, nil
}

func describe(st *actors.Status, c *Cluster) string {
	var b strings.Builder
	name := func(id string) string {
		if n := c.ByID(id); n != nil {
			return n.Name
		}
		if id == "" {
			return "-"
		}
		return short(id)
	}
	fmt.Fprintf(&b, "by %s: leader=%s term=%d stale=%v members=[", name(st.AnsweredBy), name(st.Leader), st.Term, st.Stale)
	for i, m := range st.Members {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s/%s/%s", name(m.ID), m.Role, m.State)
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

// Agreed asks every live, unpaused node and checks that all answers come
// from the same leader, and show every node the harness has running as
// alive and every other as dead (or left), with min(3, live) alive voters.
func (c *Cluster) Agreed(ctx context.Context) (*actors.Status, error) {
	var via []*Node
	want := map[string]string{}
	for _, n := range c.Nodes {
		if n.ID() == "" {
			continue
		}
		if n.Running() && !n.Paused() {
			via = append(via, n)
			want[n.ID()] = "alive"
		} else {
			want[n.ID()] = "dead"
		}
	}
	if len(via) == 0 {
		return nil, errors.New("no live node")
	}
	sts := make([]*actors.Status, len(via))
	errs := make([]error, len(via))
	var wg sync.WaitGroup
	for i, n := range via {
		wg.Go(func() { sts[i], errs[i] = c.Status(ctx, n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	voters := min(3, len(via))
	for _, st := range sts {
		switch {
		case st.Leader == "":
			return nil, fmt.Errorf("no leader known: %s", describe(st, c))
		case st.Stale || st.AnsweredBy != st.Leader:
			return nil, fmt.Errorf("not answered by the leader: %s", describe(st, c))
		case st.Leader != sts[0].Leader:
			return nil, fmt.Errorf("leaders differ: %s vs %s", describe(sts[0], c), describe(st, c))
		case len(st.Members) != len(want):
			return nil, fmt.Errorf("%d members, want %d: %s", len(st.Members), len(want), describe(st, c))
		}
		if l := c.ByID(st.Leader); l == nil || !l.Running() || l.Paused() {
			return nil, fmt.Errorf("the leader is not a live node: %s", describe(st, c))
		}
		alive := 0
		for _, m := range st.Members {
			w, ok := want[m.ID]
			if !ok {
				return nil, fmt.Errorf("unexpected member %s: %s", short(m.ID), describe(st, c))
			}
			if m.State != w && !(w == "dead" && m.State == "left") {
				return nil, fmt.Errorf("%s is %s, want %s: %s", m.Name, m.State, w, describe(st, c))
			}
			if m.State == "alive" && m.Role == "voter" {
				alive++
			}
		}
		if alive != voters {
			return nil, fmt.Errorf("%d alive voters, want %d: %s", alive, voters, describe(st, c))
		}
	}
	return sts[0], nil
}

// WaitAgreed polls Agreed until it holds or ctx ends (60 s at most).
func (c *Cluster) WaitAgreed(ctx context.Context) (*actors.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		st, err := c.Agreed(ctx)
		if err == nil {
			return st, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the live nodes do not agree: %v", last)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// Leader returns the node the live nodes' statuses name as leader (the
// first one that answers, as seen by the leader itself).
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	var last error
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		st, err := c.Status(ctx, n)
		if err != nil {
			last = err
			continue
		}
		if st.Leader == "" || st.Stale {
			last = fmt.Errorf("no leader: %s", describe(st, c))
			continue
		}
		if l := c.ByID(st.Leader); l != nil {
			return l, nil
		}
	}
	if last == nil {
		last = errors.New("no live node")
	}
	return nil, last
}

// WaitLeader polls until a live, unpaused node is leader and returns it.
func (c *Cluster) WaitLeader(ctx context.Context, except ...*Node) (*Node, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		l, err := c.Leader(ctx)
		if err == nil && l.Running() && !l.Paused() && !slices.Contains(except, l) {
			return l, nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("leader is %s", l.Name)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Connect connects a futures client through node via.
func (c *Cluster) Connect(ctx context.Context, via *Node) (*futures.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := futures.Connect(ctx, via.Addr(), futures.WithSecretFile(c.Secret))
	if err != nil {
		return nil, fmt.Errorf("connect through %s: %w", via.Name, err)
	}
	return cl, nil
}

var pprofLine = regexp.MustCompile(`msg="pprof serving" addr=(\S+)`)

// pprofAddr is where the node's current process serves pprof (from its
// log).
func (n *Node) pprofAddr() string {
	data, _ := os.ReadFile(filepath.Join(n.Dir, "stderr.log"))
	// The current process's lines follow its last start banner.
	if i := bytes.LastIndex(data, []byte("==== "+n.Name+": process ")); i >= 0 {
		data = data[i:]
	}
	m := pprofLine.FindSubmatch(data)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// Goroutines reads the node's goroutine count from its pprof endpoint.
func (n *Node) Goroutines(ctx context.Context) (int, error) {
	addr := n.pprofAddr()
	if addr == "" {
		return 0, fmt.Errorf("%s: no pprof address in its log", n.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/debug/pprof/goroutine?debug=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("%s: goroutine profile: %w", n.Name, err)
	}
	io.Copy(io.Discard, resp.Body)
	// "goroutine profile: total 123"
	f := strings.Fields(line)
	if len(f) == 0 {
		return 0, fmt.Errorf("%s: goroutine profile header %q", n.Name, line)
	}
	return strconv.Atoi(f[len(f)-1])
}

// Log returns the node's stdout and stderr logs (every process run on its
// data dir).
func (n *Node) Log() string {
	var b strings.Builder
	for _, f := range []string{"stdout.log", "stderr.log"} {
		data, _ := os.ReadFile(filepath.Join(n.Dir, f))
		fmt.Fprintf(&b, "---- %s %s ----\n%s", n.Name, f, data)
	}
	return b.String()
}

// LogTail returns the last lines of the node's stderr log.
func (n *Node) LogTail(lines int) string {
	data, _ := os.ReadFile(filepath.Join(n.Dir, "stderr.log"))
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// Logs returns the tails of every node's stderr log, for a failure report.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "---- %s (%s, %s) stderr, last %d lines ----\n%s\n", n.Name, short(n.ID()), n.Dir, lines, n.LogTail(lines))
	}
	return b.String()
}
