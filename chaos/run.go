package chaos

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshcompute/mesh/futures"
)

// Scenario is a seeded fault script run against a fresh mesh while
// workloads with known answers run.
type Scenario struct {
	Name  string
	Desc  string
	Nodes int
	// Partition: the scenario needs the nodes' --chaos switch; without it
	// the scenario is skipped.
	Partition bool
	// Short: part of the short suite (go test ./chaos/).
	Short bool
	// NoScatter: no scattered data in the workloads. Scattered values
	// have no lineage: a scenario that may kill both holders of one
	// (two nodes down at once) would lose them by design.
	NoScatter bool
	// Faults injects the faults (and repairs what it must: partitions
	// are healed and paused nodes resumed by the runner afterwards).
	Faults func(e *Env) error
	// Check, if set, adds scenario-specific checks after the workloads
	// are done; it returns the problems found.
	Check func(e *Env) []string
}

// Options are the settings of a run.
type Options struct {
	Binary string // the node binary (BuildNode)
	Seed   uint64
	Short  bool          // small workloads, short fault schedules
	Soak   time.Duration // the soak scenario's length
	Logf   func(format string, args ...any)
	// Bound is how long the workloads may take once the faults are over
	// before their futures count as hung (default 90 s).
	Bound time.Duration
	Keep  bool // keep the nodes' data dirs
	// KeepFailed keeps the data dirs (whole logs, goroutine dumps) of a
	// failed run.
	KeepFailed bool
	// DataFrame adds the DataFrame workload (a persisted DataFrame and a
	// group-by on it) to every round (meshchaos and the tests turn it on
	// unless CHAOS_DATAFRAME=0).
	DataFrame bool
	// Collections adds the Array, Bag and Delayed workload to every round
	// (meshchaos and the tests turn it on unless CHAOS_COLLECTIONS=0).
	Collections bool
}

// Env is what a scenario's fault script works with.
type Env struct {
	Ctx      context.Context
	C        *Cluster
	Rng      *rand.Rand
	Opts     Options
	Client   *futures.Client
	Via      *Node // the node the client connected through
	Progress *Progress

	mu        sync.Mutex
	workloads []Workload
	round     int
	prefix    string
	// Per-scenario state shared between Faults and Check.
	State map[string]any
}

// Logf prints a progress line if the run has a logger.
func (e *Env) Logf(format string, args ...any) {
	if e.Opts.Logf != nil {
		e.Opts.Logf(format, args...)
	}
}

// Sleep waits d (or until the run ends): it paces fault schedules, it is
// never what a check relies on.
func (e *Env) Sleep(d time.Duration) error {
	select {
	case <-e.Ctx.Done():
		return e.Ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Between returns a random duration in [lo, hi] from the scenario's seed.
func (e *Env) Between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(e.Rng.Int64N(int64(hi-lo)+1))
}

// Submit starts another workload (its futures are watched and checked
// like the first ones).
func (e *Env) Submit(w Workload) error {
	fs, err := w.Submit(e.Ctx, e.Client)
	if err != nil {
		return fmt.Errorf("submit %s: %w", w.Name(), err)
	}
	e.mu.Lock()
	e.workloads = append(e.workloads, w)
	e.mu.Unlock()
	e.Progress.Watch(e.Ctx, e.Client, fs)
	return nil
}

// NewRound makes the standard workloads of one round: a map-reduce, a
// chain and scattered data, sized for the run.
func (e *Env) NewRound(scatter bool) []Workload {
	e.mu.Lock()
	e.round++
	r := e.round
	e.mu.Unlock()
	p := fmt.Sprintf("%s/r%d", e.prefix, r)
	seed := e.Rng.Uint64()
	n, chain, k := 2000, 300, 200
	if e.Opts.Short {
		n, chain, k = 300, 100, 60
	}
	rows := 100_000
	if e.Opts.Short {
		rows = 20_000
	}
	ws := []Workload{
		&MapReduce{N: n, MaxMS: 50, Seed: seed, Prefix: p},
		&Chain{L: chain, Start: int(seed % 1000), Prefix: p},
	}
	if e.Opts.DataFrame {
		ws = append(ws, &DataFrame{Rows: rows, Seed: seed % 7, Dir: e.C.Dir(), Prefix: p})
	}
	if e.Opts.Collections {
		side, lines := 400, 20_000
		if e.Opts.Short {
			side, lines = 160, 3000
		}
		ws = append(ws, &Collections{Seed: seed, Dir: e.C.Dir(), Prefix: p, N: side, Lines: lines})
	}
	if scatter {
		ws = append(ws, &Scattered{K: k, Batches: 3, Seed: seed, Prefix: p})
	}
	return ws
}

// WaitFraction waits until frac of the submitted futures are done (60 s
// at most).
func (e *Env) WaitFraction(frac float64) error {
	ctx, cancel := context.WithTimeout(e.Ctx, 60*time.Second)
	defer cancel()
	return e.Progress.WaitFraction(ctx, frac)
}

// WaitMore waits until n more futures are done (60 s at most).
func (e *Env) WaitMore(n int) error {
	ctx, cancel := context.WithTimeout(e.Ctx, 60*time.Second)
	defer cancel()
	return e.Progress.WaitMore(ctx, n)
}

// Leader waits for the current leader (a live, unpaused node).
func (e *Env) Leader() (*Node, error) { return e.C.WaitLeader(e.Ctx) }

// Workers returns the live, unpaused nodes other than the leader.
func (e *Env) Workers() ([]*Node, error) {
	l, err := e.Leader()
	if err != nil {
		return nil, err
	}
	var out []*Node
	for _, n := range e.C.Nodes {
		if n != l && n.Running() && !n.Paused() {
			out = append(out, n)
		}
	}
	return out, nil
}

// Pick returns a random element of ns.
func (e *Env) Pick(ns []*Node) *Node { return ns[e.Rng.IntN(len(ns))] }

// Report is one scenario's result: a row of the suite's table and, when a
// check failed, what is needed to reproduce it.
type Report struct {
	Scenario string
	Seed     uint64
	Skipped  string // why the scenario did not run
	Faults   int
	Outcome
	Reruns     int // extra executions of tasks (from the nodes' exec logs); -1 unknown
	Recoveries []time.Duration
	NoRecovery int // faults after which no future finished (the work was over)
	Failures   []string
	Duration   time.Duration
	Timeline   string
	Logs       string
}

// Passed reports whether every check held.
func (r *Report) Passed() bool { return r.Skipped == "" && len(r.Failures) == 0 }

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// RecoveryP50 and RecoveryMax summarize the recovery times.
func (r *Report) RecoveryP50() time.Duration {
	if len(r.Recoveries) == 0 {
		return 0
	}
	s := slices.Clone(r.Recoveries)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func (r *Report) RecoveryMax() time.Duration {
	if len(r.Recoveries) == 0 {
		return 0
	}
	return slices.Max(r.Recoveries)
}

// Detail is the failure report: seed, failures, timeline and log tails.
func (r *Report) Detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s FAILED — reproduce with CHAOS_SEED=%d (go test ./chaos/ -run 'TestChaos/%s$' or go run ./chaos/cmd/meshchaos --scenarios %s --seed %d)\n",
		r.Scenario, r.Seed, r.Scenario, r.Scenario, r.Seed)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "  - %s\n", f)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "    · %s\n", p)
	}
	fmt.Fprintf(&b, "fault timeline:\n%s", r.Timeline)
	b.WriteString(r.Logs)
	return b.String()
}

func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// Run runs one scenario on a fresh mesh and checks everything afterwards.
func Run(ctx context.Context, sc Scenario, o Options) (r *Report) {
	start := time.Now()
	r = &Report{Scenario: sc.Name, Seed: o.Seed, Reruns: -1}
	if o.Bound == 0 {
		o.Bound = 90 * time.Second
	}
	outer := o.Logf
	logf := func(format string, args ...any) {
		if outer != nil {
			outer("[%s] "+format, append([]any{sc.Name}, args...)...)
		}
	}
	o.Logf = logf
	rng := rand.New(rand.NewPCG(o.Seed, nameHash(sc.Name)))
	c, err := Start(ctx, Config{Binary: o.Binary, Nodes: sc.Nodes, Logf: logf, Keep: o.Keep})
	if err != nil {
		r.fail("start the mesh: %v", err)
		return r
	}
	defer func() {
		r.Duration = time.Since(start)
		r.Faults = len(c.Timeline.Faults())
		if !r.Passed() && r.Skipped == "" {
			r.Timeline = c.Timeline.String()
			r.Logs = c.Logs(40)
			if o.KeepFailed && c.tempDir {
				c.cfg.Keep = true
				dumpGoroutines(ctx, c)
				r.Logs += fmt.Sprintf("(the nodes' data dirs, whole logs and goroutine dumps are kept in %s)\n", c.Dir())
			}
		}
		c.Close()
	}()
	if sc.Partition && !c.HasPartitions() {
		r.Skipped = "the node binary has no --chaos switch (partitions are not built yet)"
		return r
	}
	e := &Env{Ctx: ctx, C: c, Rng: rng, Opts: o, Progress: &Progress{}, State: map[string]any{},
		prefix: fmt.Sprintf("%s-%d-%d", sc.Name, o.Seed, time.Now().UnixNano())}
	e.Via = e.Pick(c.Nodes)
	cl, err := c.Connect(ctx, e.Via)
	if err != nil {
		r.fail("%v", err)
		return r
	}
	e.Client = cl
	clientOpen := true
	defer func() {
		if clientOpen {
			cl.Close()
		}
	}()
	c.Timeline.Note("client connected through %s", e.Via.Name)

	// Warm up (every node has seen the client and run a task), then
	// take the goroutine baseline.
	warm := &MapReduce{N: 12, MaxMS: 1, Seed: 1, Prefix: e.prefix + "/warm"}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	fs, err := warm.Submit(wctx, cl)
	if err == nil {
		_, _, err = cl.Wait(wctx, fs, futures.AllCompleted)
	}
	cancel()
	if err != nil {
		r.fail("warm-up workload on the fault-free mesh: %v", err)
		return r
	}
	baseline := map[*Node]int{}
	for _, n := range c.Nodes {
		if g, err := n.Goroutines(ctx); err == nil {
			baseline[n] = g
		} else {
			logf("no goroutine baseline: %v", err)
		}
	}

	// The work, then the faults.
	for _, w := range e.NewRound(!sc.NoScatter) {
		if err := e.Submit(w); err != nil {
			r.fail("%v", err)
			return r
		}
	}
	c.Timeline.Note("workloads submitted")
	ferr := sc.Faults(e)
	// Whatever the script did, the mesh is made whole again: partitions
	// healed, paused nodes resumed (killed nodes stay down unless the
	// script restarted them).
	if err := c.Heal(ctx); err != nil {
		r.fail("heal: %v", err)
	}
	for _, n := range c.Nodes {
		if n.Paused() {
			c.Resume(n)
		}
	}
	if ferr != nil {
		r.fail("fault script: %v", ferr)
	}
	c.Timeline.Note("faults over")

	// Every future resolves within the bound, with the right value.
	wctx, cancel = context.WithTimeout(ctx, o.Bound)
	if err := e.Progress.WaitFraction(wctx, 1); err != nil {
		logf("not all futures resolved: %v", err)
		r.Problems = append(r.Problems, explainPending(ctx, e)...)
	}
	e.mu.Lock()
	ws := slices.Clone(e.workloads)
	e.mu.Unlock()
	for _, w := range ws {
		out := w.Check(wctx, cl)
		r.Outcome.add(out)
		if !out.OK() {
			r.fail("%s: %d wrong, %d lost, %d failed, %d unresolved after %v", w.Name(), out.Wrong, out.Lost, out.Failed, out.Unresolved, o.Bound)
		}
	}
	cancel()
	c.Timeline.Note("workloads checked")
	for _, f := range c.Timeline.Faults() {
		if d, ok := e.Progress.Recovery(f.At); ok {
			r.Recoveries = append(r.Recoveries, d)
		} else {
			r.NoRecovery++
		}
	}

	// The mesh still works: a new small workload.
	after := &MapReduce{N: 40, MaxMS: 5, Seed: rng.Uint64(), Prefix: e.prefix + "/after"}
	actx, cancel := context.WithTimeout(ctx, 60*time.Second)
	if _, err := after.Submit(actx, cl); err != nil {
		r.fail("submit after the faults: %v", err)
	} else if out := after.Check(actx, cl); !out.OK() {
		r.fail("workload after the faults: %d wrong, %d lost, %d failed, %d unresolved: %v", out.Wrong, out.Lost, out.Failed, out.Unresolved, out.Problems)
	}
	cancel()

	// The live nodes agree on the leader and the membership.
	if st, err := c.WaitAgreed(ctx); err != nil {
		r.fail("agreement after healing: %v", err)
	} else {
		c.Timeline.Note("live nodes agree")
		// Exactly one scheduler, on the leader.
		for _, p := range oneScheduler(ctx, c, c.ByID(st.Leader)) {
			r.fail("%s", p)
		}
	}
	if sc.Check != nil {
		for _, p := range sc.Check(e) {
			r.fail("%s", p)
		}
	}
	// No node crashed but those the scenario killed; no panic, fatal
	// error or data race in any log.
	for _, n := range c.Nodes {
		if err := n.Crashed(); err != nil {
			r.fail("%v", err)
		}
		for _, bad := range logProblems(n) {
			r.fail("%s's log: %s", n.Name, bad)
		}
		for _, line := range selfHeals(n) {
			logf("%s repaired a lost message: %s", n.Name, line)
		}
	}
	// The survivors' goroutines return to their baseline.
	for _, p := range checkGoroutines(ctx, c, baseline) {
		r.fail("%s", p)
	}
	r.Reruns = countReruns(c, e.prefix)
	cl.Close()
	clientOpen = false
	return r
}

// explainPending asks the scheduler about the futures that did not finish
// (at most 12 of them) for the failure report.
func explainPending(ctx context.Context, e *Env) []string {
	keys := e.Progress.Pending()
	out := []string{fmt.Sprintf("%d futures unresolved: %s", len(keys), strings.Join(keys[:min(len(keys), 12)], " "))}
	if len(keys) == 0 {
		return out
	}
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ex, err := e.Client.Explain(ectx, keys[:min(len(keys), 12)]...)
	if err != nil {
		return append(out, fmt.Sprintf("the scheduler could not explain them: %v", err))
	}
	out = append(out, fmt.Sprintf("the scheduler on %s (term %d, recovering %v) sees:", short(ex.Node), ex.Term, ex.Recovering))
	for _, t := range ex.Tasks {
		out = append(out, fmt.Sprintf("%s: %s worker=%s gen=%d holders=%v waiting_on=%v wanters=%d retries=%d pins=%d orphan=%v failure=%q",
			t.Key, t.State, short(t.Worker), t.Gen, shorts(t.Holders), t.WaitingOn, len(t.Wanters), t.Retries, t.Pins, shorts(t.Orphan), t.Failure))
	}
	return out
}

func shorts(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = short(id)
	}
	return out
}

// dumpGoroutines writes every live node's goroutine stacks to
// goroutines.txt in its data dir.
func dumpGoroutines(ctx context.Context, c *Cluster) {
	for _, n := range c.Nodes {
		addr := n.pprofAddr()
		if addr == "" || !n.Running() {
			continue
		}
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(gctx, "GET", "http://"+addr+"/debug/pprof/goroutine?debug=2", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			os.WriteFile(filepath.Join(n.Dir, "goroutines.txt"), data, 0o644)
		}
		cancel()
	}
}

// GoroutineSlack is how many goroutines above its baseline a survivor may
// keep (connections to peers that died and came back, timers), plus
// GoroutineSlackPct of the baseline.
const (
	GoroutineSlack    = 40
	GoroutineSlackPct = 25
)

func checkGoroutines(ctx context.Context, c *Cluster, baseline map[*Node]int) []string {
	var out []string
	for _, n := range c.Nodes {
		base, ok := baseline[n]
		if !ok || n.Starts() != 1 || !n.Running() {
			continue // a restarted process has another baseline
		}
		limit := base + GoroutineSlack + base*GoroutineSlackPct/100
		deadline := time.Now().Add(30 * time.Second)
		var g int
		var err error
		for {
			g, err = n.Goroutines(ctx)
			if err == nil && g <= limit {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				if err != nil {
					out = append(out, fmt.Sprintf("goroutines of %s: %v", n.Name, err))
				} else {
					out = append(out, fmt.Sprintf("%s has %d goroutines 30 s after the scenario, baseline %d (limit %d): a leak?", n.Name, g, base, limit))
				}
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return out
}

// logProblems scans a node's stderr for panics, fatal errors and data
// races.
func logProblems(n *Node) []string {
	return scanLog(n, 5, func(line string) bool {
		for _, bad := range []string{"panic: ", "fatal error: ", "WARNING: DATA RACE"} {
			if strings.HasPrefix(line, bad) {
				return true
			}
		}
		return false
	})
}

// selfHeals returns the lines of n's log where the scheduler repaired a
// lost message (a task probe found a task lost on the way or a result
// whose report never came): not failures, but each names a message the
// mesh lost, worth a look when it is frequent.
func selfHeals(n *Node) []string {
	return scanLog(n, 10, func(line string) bool {
		return strings.Contains(line, "lost on the way") || strings.Contains(line, "reports never arrived")
	})
}

// scanLog returns up to max lines of n's stderr log that match.
func scanLog(n *Node, max int, match func(string) bool) []string {
	f, err := os.Open(filepath.Join(n.Dir, "stderr.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && len(out) < max {
		if line := sc.Text(); match(line) {
			out = append(out, line)
		}
	}
	return out
}

// countReruns counts, over every node's exec log, executions of tasks of
// this run beyond the first of each.
func countReruns(c *Cluster, prefix string) int {
	seen := map[string]int{}
	total := 0
	for _, n := range c.Nodes {
		f, err := os.Open(filepath.Join(n.Dir, "exec.log"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if t := sc.Text(); strings.HasPrefix(t, prefix+"/") {
				seen[t]++
				total++
			}
		}
		f.Close()
	}
	return total - len(seen)
}

// oneScheduler checks that the leader runs a scheduler and no other live
// node does (polling up to 15 s for a node still stepping down).
func oneScheduler(ctx context.Context, c *Cluster, leader *Node) []string {
	var out []string
	for _, n := range c.Live() {
		want := n == leader
		deadline := time.Now().Add(15 * time.Second)
		for {
			running, err := c.SchedulerRunning(ctx, n)
			if err == nil && running == want {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				switch {
				case err != nil:
					out = append(out, fmt.Sprintf("cannot ask %s about its scheduler: %v", n.Name, err))
				case want:
					out = append(out, fmt.Sprintf("the leader %s runs no scheduler", n.Name))
				default:
					out = append(out, fmt.Sprintf("%s runs a scheduler but %s leads: two schedulers", n.Name, leader.Name))
				}
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}
