package actors

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/meshcompute/mesh/consensus"
)

// Task states inside the scheduler (Dask's, less the ones a one-process
// scheduler does not need).
type taskState uint8

const (
	tsWaiting    taskState = iota // some input not in memory yet
	tsQueued                      // ready, held on the scheduler until a worker has room
	tsProcessing                  // sent to a worker
	tsMemory                      // result held by one or more nodes
	tsErred                       // failed for good
	tsReleased                    // value dropped; lineage kept while dependents may need it
)

func (s taskState) String() string {
	return [...]string{"waiting", "queued", "processing", "memory", "erred", "released"}[s]
}

// maxSuspicious: a task that was running on this many workers when they
// died errs instead of taking down another (Dask's allowed-failures).
const maxSuspicious = 3

type stask struct {
	spec       consensus.TaskSpec
	data       bool // scattered: no lineage
	state      taskState
	group      int32 // in graph.groups, set when the task is created
	waitingOn  int
	deps       []*stask
	dependents []*stask
	worker     string // while processing
	gen        uint64 // of the run whose value the holders have (Assignment.Gen)
	holders    []string
	size       int64
	failure    *TaskFailure
	wanters    []string // clients holding a future for it
	retries    int
	suspicious int
	seq        uint64 // submission order, to break priority ties (FIFO)
	heapIndex  int
	inline     []byte // a small value, only while its completion is announced
	stealTo    string // a steal to this worker is asked of the task's worker
	pins       int    // parts of unfinished submissions that hold it (pin)
	// assignedAt: when it was last sent to its worker; unseen: how many
	// probes in a row found its worker neither running nor holding it.
	assignedAt time.Time
	unseen     int
}

type sworker struct {
	id          string
	incarnation uint64 // of the process (consensus.Member.Incarnation)
	name        string
	nthreads    int
	running     map[string]*stask
	// avgMicros is a moving average of its tasks' run time (0: none yet).
	avgMicros float64
	// bandwidth is the rate it reports fetching inputs at, bytes per
	// second (0: not measured yet); see bandwidth.go.
	bandwidth float64
	// resources the worker offers, and how much of them running tasks hold.
	resources map[string]float64
	used      map[string]float64
	// stealOut: a StealRequest to this worker awaits its answer since
	// stealAt, for these thieves (how many tasks each); incoming: tasks
	// being stolen for this worker.
	stealOut map[string]int
	stealAt  time.Time
	incoming int
	// probedAt: when the scheduler last asked it about its tasks
	// (TaskProbe); probing: the answer is awaited.
	probedAt time.Time
	probing  bool
	// retiring: the worker is leaving (retire): no new tasks or replicas
	// go to it; pushedAt: when its sole copies were last pushed away.
	retiring bool
	pushedAt time.Time
}

// offers reports whether the worker has the resources at all.
func (w *sworker) offers(req map[string]float64) bool {
	for r, q := range req {
		if w.resources[r] < q {
			return false
		}
	}
	return true
}

// fits reports whether the worker has the resources free now.
func (w *sworker) fits(req map[string]float64) bool {
	for r, q := range req {
		if w.resources[r]-w.used[r] < q {
			return false
		}
	}
	return true
}

// unassign takes a task off the worker and frees what it held.
func (w *sworker) unassign(key string) {
	if t, ok := w.running[key]; ok {
		delete(w.running, key)
		w.hold(t.spec.Resources, -1)
	}
}

func (w *sworker) hold(req map[string]float64, sign float64) {
	for r, q := range req {
		w.used[r] += sign * q
	}
}

// graph is the leader's scheduling state: every task it knows, the live
// workers, and the queue of ready root tasks. It is owned by the scheduler
// actor and not safe for concurrent use. Its methods record what must be
// sent (computes, client updates, drops) in pending; take() hands that out.
type graph struct {
	tasks    map[string]*stask
	workers  map[string]*sworker
	order    []string // worker ids, sorted: deterministic placement
	queue    taskQueue
	seq      uint64
	replicas int // copies of each result, in all
	rr       int // round-robin cursor for replica placement
	// genBase (the scheduler's term in the high bits) and genSeq number
	// the runs of tasks: Assignment.Gen.
	genBase, genSeq uint64
	validate        func(*consensus.TaskSpec) *TaskFailure
	pending         effects
	// missing: scattered values whose every holder is gone, since when.
	// They wait for a holder to come back (a partition heals, a paused
	// node resumes) until missingGrace, then err lost.
	missing map[*stask]time.Time
	// joined: workers that appeared since the scheduler last asked
	// (their holdings may bring missing values back).
	joined []string
	now    func() time.Time
	// orphans: values a worker holds that the graph does not know (yet):
	// a new leader may hear of a Scatter or a submission after the
	// holdings. Dropped if still unknown after missingGrace.
	orphans map[string]orphan
	// restored: when this graph was rebuilt by a new leader (zero for a
	// first leader). For missingGrace after it, results of tasks the graph
	// does not know are kept as orphans, not dropped: their submission may
	// have died unreplicated with the old leader, and its client is about
	// to give it again.
	restored time.Time
	// bytesPerMicro: the transfer rate placement and stealing assume, the
	// mean of the workers' measured bandwidths (defaultBandwidth before
	// any); kept by noteBandwidth.
	bytesPerMicro float64
	// pinned: per client, the tasks of the parts of a submission it has
	// sent so far, kept until its next part (pin, unpin).
	pinned map[string][]*stask
	// groups interns the tasks' groups (KeySplit of their keys).
	groups *groupTable
}

type orphan struct {
	holders []string
	since   time.Time
	gen     uint64 // the latest generation a holder reported (0: none)
}

// orphan records a held value the graph does not know.
func (g *graph) orphan(key, worker string, gen uint64) {
	o := g.orphans[key]
	o.gen = max(o.gen, gen)
	if o.since.IsZero() {
		o.since = g.now()
	}
	if !slices.Contains(o.holders, worker) {
		o.holders = append(o.holders, worker)
	}
	g.orphans[key] = o
}

// adopting: whether unknown results are still kept as orphans (a new
// leader's first missingGrace).
func (g *graph) adopting() bool {
	return !g.restored.IsZero() && g.now().Sub(g.restored) < missingGrace
}

// missingGrace: how long a scattered value with no live holder waits for
// one to return before it errs lost.
const missingGrace = 30 * time.Second

// effects are the messages one round of scheduling produced.
type effects struct {
	compute map[string][]Assignment // worker -> tasks
	updates map[string][]TaskUpdate // client -> updates
	drops   map[string][]string     // worker -> keys to forget
	gens    map[string][]uint64     // worker -> beside drops, the generation of each (0: any)
	steals  map[string][]string     // worker -> keys to give up if not started
	pushes  map[string]*PushValues  // retiring worker -> values to copy elsewhere
	// fafDone: fire-and-forget tasks that finished, whose hold the
	// replicated graph must drop too.
	fafDone []string
	// erred: the first maxErredNotes tasks that erred (the dashboard's
	// events), and how many more did.
	erred     []KeyFailure
	erredMore int
}

// maxErredNotes bounds the erred tasks one round of scheduling notes.
const maxErredNotes = 16

func newGraph(replicas int, validate func(*consensus.TaskSpec) *TaskFailure) *graph {
	if replicas < 1 {
		replicas = 1
	}
	g := &graph{tasks: map[string]*stask{}, workers: map[string]*sworker{}, replicas: replicas, validate: validate,
		missing: map[*stask]time.Time{}, now: time.Now, orphans: map[string]orphan{}, pinned: map[string][]*stask{},
		groups: newGroupTable()}
	g.pending = newEffects()
	return g
}

func newEffects() effects {
	return effects{compute: map[string][]Assignment{}, updates: map[string][]TaskUpdate{}, drops: map[string][]string{}, gens: map[string][]uint64{},
		steals: map[string][]string{}, pushes: map[string]*PushValues{}}
}

// take returns the effects accumulated since the last call.
func (g *graph) take() effects {
	e := g.pending
	g.pending = newEffects()
	return e
}

// submit adds tasks (in dependency order: a task's inputs come before it or
// are already known), scattered data, and the client's interest in want.
func (g *graph) submit(client string, specs []consensus.TaskSpec, want []string, data []DataItem) []KeyFailure {
	for _, d := range data {
		t := g.tasks[d.Key]
		if t == nil {
			t = &stask{spec: consensus.TaskSpec{Key: d.Key}, data: true, heapIndex: -1, group: g.groups.id(d.Key)}
			g.tasks[d.Key] = t
			t.state, t.holders, t.size = tsMemory, slices.Clone(d.Holders), d.Size
			if o, ok := g.orphans[d.Key]; ok {
				for _, h := range o.holders {
					if !slices.Contains(t.holders, h) {
						t.holders = append(t.holders, h)
					}
				}
				delete(g.orphans, d.Key)
			}
			g.pruneHolders(t)
			if len(t.holders) == 0 {
				g.lost(t)
			}
			continue
		}
		// Known already (a client registers its scattered inputs again with
		// the tasks that read them): add holders it did not know; bring a
		// value that was missing back.
		switch t.state {
		case tsMemory:
			for _, h := range d.Holders {
				if g.workers[h] != nil && !slices.Contains(t.holders, h) {
					t.holders = append(t.holders, h)
				}
			}
		case tsErred:
			// Scattered again after it was lost: the value is back.
			if holders := g.live(d.Holders); t.data && len(holders) > 0 {
				t.state, t.holders, t.size, t.failure = tsMemory, holders, d.Size, nil
			}
		case tsWaiting, tsReleased:
			holders := g.live(d.Holders)
			if t.data && len(holders) > 0 {
				delete(g.missing, t)
				t.waitingOn = 0
				g.complete(t, holders, d.Size)
			}
		}
	}
	var rejected []KeyFailure
	var fresh []*stask
	for i := range specs {
		spec := specs[i]
		if t := g.tasks[spec.Key]; t != nil {
			if t.state == tsReleased {
				fresh = append(fresh, t) // known lineage, value gone: compute again
			}
			continue // same key, same call: computed once
		}
		t := &stask{spec: spec, heapIndex: -1, group: g.groups.id(spec.Key)}
		g.seq++
		t.seq = g.seq
		g.tasks[spec.Key] = t
		if f := g.validate(&spec); f != nil {
			t.state, t.failure = tsErred, f
			rejected = append(rejected, KeyFailure{Key: spec.Key, Failure: f})
			continue
		}
		unknown := ""
		for _, dk := range spec.Deps() {
			if g.tasks[dk] == nil {
				unknown = dk
				break
			}
		}
		if unknown != "" {
			// Not recorded: submitted again with its inputs, it is new.
			delete(g.tasks, spec.Key)
			rejected = append(rejected, KeyFailure{Key: spec.Key, Failure: &TaskFailure{Kind: FailUnknownInput,
				Message: fmt.Sprintf("%s: input %s is unknown to the scheduler (was its future released?)", spec.Key, unknown)}})
			continue
		}
		for _, dk := range spec.Deps() {
			d := g.tasks[dk]
			t.deps = append(t.deps, d)
			d.dependents = append(d.dependents, t)
			g.groups.link(d.group, t.group)
		}
		if o, ok := g.orphans[spec.Key]; ok {
			// A worker already holds its value (computed before a leader
			// change that the submission's replication did not outlive).
			delete(g.orphans, spec.Key)
			t.state, t.holders = tsMemory, slices.Clone(o.holders)
			g.pruneHolders(t)
			if len(t.holders) > 0 {
				continue
			}
			t.state = tsWaiting
		}
		fresh = append(fresh, t)
	}
	for _, k := range want {
		t := g.tasks[k]
		if t == nil {
			continue
		}
		if client == FireAndForgetClient && (t.state == tsMemory || t.state == tsErred) {
			continue // already finished: nothing to keep alive
		}
		if !slices.Contains(t.wanters, client) {
			t.wanters = append(t.wanters, client)
		}
		switch t.state {
		case tsMemory, tsErred:
			g.notify(t, client)
		}
	}
	for _, t := range fresh {
		g.recompute(t)
	}
	return rejected
}

// recompute brings a task whose value is not held back to waiting (its
// released inputs too) and makes it ready when it can run.
func (g *graph) recompute(t *stask) {
	if t.state != tsWaiting && t.state != tsReleased {
		return // already on its way, done, or failed
	}
	if t.data {
		// No lineage: wait for a node that holds it to come back.
		t.state = tsWaiting
		if _, ok := g.missing[t]; !ok {
			g.missing[t] = g.now()
		}
		return
	}
	t.state = tsWaiting
	t.waitingOn = 0
	for _, d := range t.deps {
		switch d.state {
		case tsMemory:
		case tsErred:
			g.fail(t, dependencyFailure(t, d))
			return
		case tsReleased:
			g.recompute(d)
			t.waitingOn++
		default:
			t.waitingOn++
		}
	}
	if t.state == tsWaiting && t.waitingOn == 0 {
		g.ready(t)
	}
}

func dependencyFailure(t, d *stask) *TaskFailure {
	msg := "failed"
	if d.failure != nil {
		msg = d.failure.Message
	}
	return &TaskFailure{Kind: FailDependency, Message: fmt.Sprintf("%s: input %s erred: %s", t.spec.Key, d.spec.Key, msg), Stack: stackOf(d)}
}

func stackOf(d *stask) string {
	if d.failure != nil {
		return d.failure.Stack
	}
	return ""
}

// ready places a runnable task on a worker, or queues it.
func (g *graph) ready(t *stask) {
	w := g.pickWorker(t)
	if w == nil || (len(t.deps) == 0 && len(w.running) >= g.saturation(w)) || !w.fits(t.spec.Resources) {
		t.state = tsQueued
		heap.Push(&g.queue, t)
		return
	}
	g.assign(t, w)
}

// Root tasks are held on the scheduler (Dask's queuing) so that workers do
// not run ahead of memory: a worker holds its threads' worth plus enough
// slack to stay busy while results travel to the scheduler and new work
// comes back — one slot per thread for long tasks, many for tiny ones.
const (
	pipelineMicros = 2000 // a round trip worker -> scheduler -> worker, with margin
	maxSlackFactor = 16
)

// saturation is how many tasks a worker may hold at once.
func (g *graph) saturation(w *sworker) int {
	if w.avgMicros <= 0 {
		return w.nthreads + 2
	}
	slack := int(float64(w.nthreads) * pipelineMicros / max(w.avgMicros, 1))
	return w.nthreads + min(max(slack, 1), maxSlackFactor*w.nthreads+16)
}

func (g *graph) assign(t *stask, w *sworker) {
	t.state, t.worker, t.stealTo = tsProcessing, w.id, ""
	t.assignedAt, t.unseen = g.now(), 0
	w.running[t.spec.Key] = t
	w.hold(t.spec.Resources, 1)
	g.genSeq++
	t.gen = g.genBase | g.genSeq
	a := Assignment{Spec: t.spec, Gen: t.gen}
	// Results a client holds are replicated; intermediates nobody holds
	// (a reduction's inner levels, a DataFrame's partials) are not: they
	// live only until their dependants ran, and lineage recomputes them if
	// their node dies first.
	if len(t.wanters) > 0 {
		n := g.replicas
		if t.spec.Replicas > 0 {
			n = t.spec.Replicas
		}
		a.Replicas = g.pickReplicas(w.id, n)
	}
	if len(t.deps) > 0 {
		a.Deps = make(map[string][]string, len(t.deps))
		for _, d := range t.deps {
			a.Deps[d.spec.Key] = d.holders
		}
	}
	g.pending.compute[w.id] = append(g.pending.compute[w.id], a)
}

// pickWorker chooses the allowed worker where the task would start and
// get its inputs soonest (Dask's decide_worker): the time to fetch the
// input bytes it does not hold (at the workers' measured bandwidth) plus the time its
// queue takes (running tasks per thread times its average task time);
// ties go to the less occupied. A task whose inputs are large stays with
// them unless their holder is busy for longer than moving them takes, so
// the halves of a shuffle's inputs do not all pile up on one node.
func (g *graph) pickWorker(t *stask) *sworker {
	var best *sworker
	bestCost, bestLoad := 0.0, 0.0
	for _, id := range g.order {
		w := g.workers[id]
		if len(t.spec.Workers) > 0 && !slices.Contains(t.spec.Workers, w.id) && !slices.Contains(t.spec.Workers, w.name) {
			continue
		}
		if !w.offers(t.spec.Resources) || w.retiring {
			continue
		}
		if len(t.spec.Resources) > 0 && !w.fits(t.spec.Resources) {
			continue // another worker that has them free may exist
		}
		var missing int64
		for _, d := range t.deps {
			if !slices.Contains(d.holders, w.id) {
				missing += max(d.size, 1)
			}
		}
		load := float64(len(w.running)) / float64(w.nthreads)
		avg := w.avgMicros
		if avg <= 0 {
			avg = unknownMicros
		}
		cost := float64(missing)/g.transferRate() + load*avg
		if best == nil || cost < bestCost || (cost == bestCost && load < bestLoad) {
			best, bestCost, bestLoad = w, cost, load
		}
	}
	return best
}

// pickReplicas chooses where the result's other copies go.
func (g *graph) pickReplicas(holder string, copies int) []string {
	n := min(copies-1, len(g.order)-1)
	if n <= 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; len(out) < n && i < len(g.order); i++ {
		id := g.order[(g.rr+i)%len(g.order)]
		if id != holder && !g.workers[id].retiring {
			out = append(out, id)
		}
	}
	g.rr++
	return out
}

// finished applies a worker's results. A success is taken whenever the
// value is not held yet, even from a worker the task was not (or no longer)
// assigned to: after a leader change, or a rerun that raced the first run,
// the value is as good.
func (g *graph) finished(worker string, results []TaskResult) {
	w := g.workers[worker]
	for _, r := range results {
		if w != nil && r.Failure == nil && len(r.Missing) == 0 {
			if w.avgMicros == 0 {
				w.avgMicros = float64(r.Micros) + 1
			} else {
				w.avgMicros = 0.9*w.avgMicros + 0.1*(float64(r.Micros)+1)
			}
		}
		t := g.tasks[r.Key]
		if w != nil && (t == nil || t.worker == worker) {
			w.unassign(r.Key)
		}
		if t == nil {
			if r.Failure == nil {
				for _, h := range r.Holders {
					if g.adopting() {
						g.orphan(r.Key, h, r.Gen)
					} else {
						g.drop(h, r.Key, r.Gen)
					}
				}
			}
			continue
		}
		ok := r.Failure == nil && len(r.Missing) == 0
		if t.state != tsProcessing || t.worker != worker {
			if !ok {
				continue // a stale failure: the task is elsewhere now
			}
			switch t.state {
			case tsErred:
				continue
			case tsMemory:
				for _, h := range r.Holders {
					if !slices.Contains(t.holders, h) {
						t.holders = append(t.holders, h)
					}
				}
				t.gen = max(t.gen, r.Gen) // a drop of the later run takes the earlier too
				g.pruneHolders(t)
				continue
			case tsQueued:
				heap.Remove(&g.queue, t.heapIndex)
			case tsProcessing:
				if other := g.workers[t.worker]; other != nil {
					other.unassign(t.spec.Key)
				}
			}
		}
		t.worker = ""
		switch {
		case len(r.Missing) > 0:
			for _, mk := range r.Missing {
				if d := g.tasks[mk]; d != nil && d.state == tsMemory {
					d.holders = nil
					g.lost(d)
				}
			}
			t.state = tsWaiting
			g.recompute(t)
		case r.Failure != nil:
			if t.retries < t.spec.Retries && (r.Failure.Kind == FailError || r.Failure.Kind == FailPanic) {
				t.retries++
				g.ready(t)
				continue
			}
			g.fail(t, r.Failure)
		default:
			t.inline = r.Inline
			t.gen = max(t.gen, r.Gen)
			g.complete(t, r.Holders, r.Size)
			t.inline = nil
		}
	}
	g.fill()
}

// complete records a task's value and moves its dependants on.
func (g *graph) complete(t *stask, holders []string, size int64) {
	t.state, t.holders, t.size = tsMemory, slices.Clone(holders), size
	g.pruneHolders(t)
	if len(t.holders) == 0 {
		t.state = tsWaiting
		g.recompute(t)
		return
	}
	for _, c := range t.wanters {
		g.notify(t, c)
	}
	g.dropFireAndForget(t)
	for _, d := range t.dependents {
		if d.state == tsWaiting {
			d.waitingOn--
			if d.waitingOn == 0 {
				g.ready(d)
			}
		}
	}
	for _, d := range t.deps {
		g.maybeRelease(d)
	}
	g.maybeRelease(t)
}

// restore rebuilds the graph on a new leader from the replicated records
// and what the workers report holding and running. Values held are in
// memory; tasks still running stay with their worker; everything else a
// client needs is computed again (scattered values with no copy left err).
func (g *graph) restore(records map[string]consensus.TaskRecord, holdings []*Holdings) {
	inherited := len(records) > 0
	for _, h := range holdings {
		inherited = inherited || len(h.Keys) > 0 || len(h.Running) > 0
	}
	if inherited {
		g.restored = g.now()
	}
	keys := make([]string, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := records[k]
		if _, ok := g.tasks[k]; ok {
			continue
		}
		g.seq++
		g.tasks[k] = &stask{spec: r.Spec, data: r.Data, wanters: slices.Clone(r.Wanters), state: tsReleased, seq: g.seq, heapIndex: -1,
			group: g.groups.id(k)}
	}
	for _, k := range keys {
		t := g.tasks[k]
		for _, dk := range t.spec.Deps() {
			if d := g.tasks[dk]; d != nil {
				t.deps = append(t.deps, d)
				d.dependents = append(d.dependents, t)
				g.groups.link(d.group, t.group)
			}
		}
	}
	for _, h := range holdings {
		w := g.workers[h.Worker]
		if w == nil {
			continue
		}
		for i, k := range h.Keys {
			t := g.tasks[k]
			var gen uint64
			if i < len(h.Gens) {
				gen = h.Gens[i]
			}
			if t == nil {
				g.orphan(k, h.Worker, gen)
				continue
			}
			t.state = tsMemory
			t.gen = max(t.gen, gen)
			t.holders = append(t.holders, h.Worker)
			if i < len(h.Sizes) {
				t.size = h.Sizes[i]
			}
		}
	}
	for _, h := range holdings {
		w := g.workers[h.Worker]
		if w == nil {
			continue
		}
		for _, k := range h.Running {
			if t := g.tasks[k]; t != nil && t.state == tsReleased {
				t.state, t.worker = tsProcessing, w.id
				w.running[k] = t
				w.hold(t.spec.Resources, 1)
			}
		}
	}
	for _, k := range keys {
		t := g.tasks[k]
		switch t.state {
		case tsMemory:
			for _, c := range t.wanters {
				g.notify(t, c)
			}
		case tsReleased:
			if g.needed(t) {
				g.recompute(t)
			}
		}
	}
	// Values nobody needs any more go.
	for _, k := range keys {
		if t := g.tasks[k]; t != nil && t.state == tsMemory {
			g.maybeRelease(t)
		}
	}
	g.fill()
}

// live returns the ids that are live workers (a new slice).
func (g *graph) live(ids []string) []string {
	return slices.DeleteFunc(slices.Clone(ids), func(h string) bool { return g.workers[h] == nil })
}

// pruneHolders drops holders that are not live workers.
func (g *graph) pruneHolders(t *stask) {
	t.holders = slices.DeleteFunc(t.holders, func(h string) bool { return g.workers[h] == nil })
}

// fill hands queued tasks to workers with room.
func (g *graph) fill() {
	var blocked []*stask // waiting for resources no worker has free
	for g.queue.Len() > 0 {
		t := g.queue[0]
		w := g.pickWorker(t)
		if w == nil && len(t.spec.Resources) > 0 {
			blocked = append(blocked, heap.Pop(&g.queue).(*stask))
			continue
		}
		if w == nil || len(w.running) >= g.saturation(w) {
			break
		}
		heap.Pop(&g.queue)
		g.assign(t, w)
	}
	for _, t := range blocked {
		heap.Push(&g.queue, t)
	}
}

// fail errs a task and everything that depends on it.
func (g *graph) fail(t *stask, f *TaskFailure) {
	if t.state == tsErred {
		return
	}
	if t.state == tsQueued {
		heap.Remove(&g.queue, t.heapIndex)
	}
	t.state, t.failure, t.holders = tsErred, f, nil
	if f != nil && f.Kind == FailCancelled {
		// not an error worth an event
	} else if len(g.pending.erred) < maxErredNotes {
		g.pending.erred = append(g.pending.erred, KeyFailure{Key: t.spec.Key, Failure: f})
	} else {
		g.pending.erredMore++
	}
	for _, c := range t.wanters {
		g.notify(t, c)
	}
	g.dropFireAndForget(t)
	for _, d := range t.dependents {
		switch d.state {
		case tsProcessing:
			// It cannot read this input: its result will not come.
			if w := g.workers[d.worker]; w != nil {
				w.unassign(d.spec.Key)
			}
			d.worker = ""
			g.fail(d, dependencyFailure(d, t))
		case tsWaiting, tsQueued:
			g.fail(d, dependencyFailure(d, t))
		}
	}
}

// dropFireAndForget removes the fire-and-forget hold of a finished task.
func (g *graph) dropFireAndForget(t *stask) {
	if slices.Contains(t.wanters, FireAndForgetClient) {
		t.wanters = slices.DeleteFunc(t.wanters, func(c string) bool { return c == FireAndForgetClient })
		g.pending.fafDone = append(g.pending.fafDone, t.spec.Key)
	}
}

// notify queues a client update for t.
func (g *graph) notify(t *stask, client string) {
	if client == FireAndForgetClient {
		return
	}
	u := TaskUpdate{Key: t.spec.Key}
	switch t.state {
	case tsMemory:
		u.State, u.Holders, u.Size, u.Inline = StateMemory, t.holders, t.size, t.inline
	case tsErred:
		u.State, u.Failure = StateErred, t.failure
		if t.failure != nil && t.failure.Kind == FailCancelled {
			u.State = StateCancelled
		}
	default:
		return
	}
	g.pending.updates[client] = append(g.pending.updates[client], u)
}

// needed: someone still wants t's value — a client, or a dependent that
// has not finished.
func (g *graph) needed(t *stask) bool {
	if len(t.wanters) > 0 || t.pins > 0 {
		return true
	}
	for _, d := range t.dependents {
		if d.state == tsWaiting || d.state == tsQueued || d.state == tsProcessing {
			return true
		}
	}
	return false
}

// drop tells holder h to forget key's value of generation gen (0: any).
func (g *graph) drop(h, key string, gen uint64) {
	g.pending.drops[h] = append(g.pending.drops[h], key)
	g.pending.gens[h] = append(g.pending.gens[h], gen)
}

// maybeRelease drops a value nobody needs any more. Its record stays while
// it has dependents (lineage for recomputation); with none, it is forgotten.
func (g *graph) maybeRelease(t *stask) {
	if t.state != tsMemory || g.needed(t) {
		return
	}
	for _, h := range t.holders {
		g.drop(h, t.spec.Key, t.gen)
	}
	t.holders = nil
	t.state = tsReleased
	g.forgetIfUnused(t)
}

// forgetIfUnused removes a released or erred task with no wanters and no
// dependents, and then its inputs if that leaves them unused.
func (g *graph) forgetIfUnused(t *stask) {
	if len(t.wanters) > 0 || len(t.dependents) > 0 || t.pins > 0 {
		return
	}
	switch {
	case t.state == tsReleased, t.state == tsErred:
	case t.data && t.state == tsWaiting: // missing, and nobody wants it now
	default:
		return
	}
	delete(g.missing, t)
	delete(g.tasks, t.spec.Key)
	for _, d := range t.deps {
		d.dependents = slices.DeleteFunc(d.dependents, func(x *stask) bool { return x == t })
		if d.state == tsMemory {
			g.maybeRelease(d)
		} else {
			g.forgetIfUnused(d)
		}
	}
}

// pin keeps keys (a part of a client's submission; more follows) until
// the client's next part: unpin.
func (g *graph) pin(client string, keys []string) {
	for _, k := range keys {
		if t := g.tasks[k]; t != nil {
			t.pins++
			g.pinned[client] = append(g.pinned[client], t)
		}
	}
}

// unpin lets go of what pin kept for client (its submission is complete,
// or it is gone): what nothing needs now is released.
func (g *graph) unpin(client string) {
	ts := g.pinned[client]
	if len(ts) == 0 {
		return
	}
	delete(g.pinned, client)
	for _, t := range ts {
		t.pins--
	}
	for _, t := range ts {
		if t.pins > 0 || g.tasks[t.spec.Key] != t {
			continue
		}
		if t.state == tsMemory {
			g.maybeRelease(t)
		} else {
			g.forgetIfUnused(t)
		}
	}
}

// release removes a client's interest in keys. With cancel, unfinished
// tasks nobody else wants are cancelled.
func (g *graph) release(client string, keys []string, cancel bool) {
	for _, k := range keys {
		t := g.tasks[k]
		if t == nil {
			continue
		}
		t.wanters = slices.DeleteFunc(t.wanters, func(c string) bool { return c == client })
		if cancel && len(t.wanters) == 0 {
			switch t.state {
			case tsWaiting, tsQueued, tsProcessing:
				if t.state == tsProcessing {
					if w := g.workers[t.worker]; w != nil {
						w.unassign(k)
					}
					t.worker = ""
				}
				g.notifyCancelled(client, k)
				g.fail(t, &TaskFailure{Kind: FailCancelled, Message: k + ": cancelled"})
			}
		}
		if t.state == tsMemory {
			g.maybeRelease(t)
		} else {
			g.forgetIfUnused(t)
		}
	}
	g.fill()
}

func (g *graph) notifyCancelled(client, key string) {
	g.pending.updates[client] = append(g.pending.updates[client], TaskUpdate{Key: key, State: StateCancelled,
		Failure: &TaskFailure{Kind: FailCancelled, Message: key + ": cancelled"}})
}

// workerInfo is a live member as the scheduler needs it.
type workerInfo struct {
	incarnation uint64
	name        string
	nthreads    int
	resources   map[string]float64 // what the worker offers (e.g. GPU: 2)
}

// wantedBy lists the keys each of the clients holds futures for.
func (g *graph) wantedBy(clients []string) map[string][]string {
	out := make(map[string][]string, len(clients))
	for k, t := range g.tasks {
		for _, c := range t.wanters {
			if slices.Contains(clients, c) {
				out[c] = append(out[c], k)
			}
		}
	}
	return out
}

// setWorkers reconciles the worker set with the live members: tasks on a
// worker that is gone run again elsewhere, and values it held are served
// by their replicas or recomputed.
func (g *graph) setWorkers(live map[string]workerInfo) {
	var gone []*sworker
	restarted := map[string]bool{}
	for id, w := range g.workers {
		info, ok := live[id]
		if !ok || info.incarnation != w.incarnation {
			// Gone, or restarted (its new process holds and runs
			// nothing of the old one's, even if it was never seen dead).
			gone = append(gone, w)
			delete(g.workers, id)
			if ok {
				restarted[id] = true
			}
		}
	}
	if len(gone) > 0 {
		g.updateTransferRate()
	}
	for id, info := range live {
		if w, ok := g.workers[id]; !ok {
			g.joined = append(g.joined, id)
			g.workers[id] = &sworker{id: id, incarnation: info.incarnation, name: info.name, nthreads: max(info.nthreads, 1), running: map[string]*stask{},
				resources: info.resources, used: map[string]float64{}}
		} else {
			w.resources = info.resources
		}
	}
	g.order = g.order[:0]
	for id := range g.workers {
		g.order = append(g.order, id)
	}
	sort.Strings(g.order)
	// Values first: a task re-run below must see its inputs' true holders.
	if len(gone) > 0 {
		for _, t := range g.tasks {
			if t.state != tsMemory {
				continue
			}
			before := len(t.holders)
			g.pruneHolders(t)
			if len(restarted) > 0 {
				t.holders = slices.DeleteFunc(t.holders, func(h string) bool { return restarted[h] })
			}
			if before > 0 && len(t.holders) == 0 {
				g.lost(t)
			}
		}
	}
	for _, w := range gone {
		g.stealDone(w)
		// Re-run what it was running, in submission order.
		running := make([]*stask, 0, len(w.running))
		for _, t := range w.running {
			running = append(running, t)
		}
		slices.SortFunc(running, func(a, b *stask) int { return cmp.Compare(a.seq, b.seq) })
		for _, t := range running {
			if t.state != tsProcessing || t.worker != w.id {
				continue // already dealt with (its input was lost)
			}
			t.worker = ""
			t.suspicious++
			if t.suspicious >= maxSuspicious {
				g.fail(t, &TaskFailure{Kind: FailKilled, Message: fmt.Sprintf("%s: killed workers: %d workers died while running this task (the last: %s); it errs rather than take down another", t.spec.Key, t.suspicious, w.id)})
				continue
			}
			t.state = tsWaiting
			g.recompute(t)
		}
	}
	g.fill()
}

// lost handles a value whose every copy is gone: recompute it if anyone
// needs it, otherwise remember only its lineage.
func (g *graph) lost(t *stask) {
	t.state = tsReleased
	// Dependants that have not run yet wait for it again.
	for _, d := range t.dependents {
		switch d.state {
		case tsWaiting:
			d.waitingOn++
		case tsQueued:
			heap.Remove(&g.queue, d.heapIndex)
			d.state, d.waitingOn = tsWaiting, 1
		}
	}
	if g.needed(t) {
		g.recompute(t)
		return
	}
	if t.data {
		// Nobody needs it now; a holder may still come back.
		t.state = tsWaiting
		if _, ok := g.missing[t]; !ok {
			g.missing[t] = g.now()
		}
	}
}

// undelivered places again the tasks whose assignment to worker never left
// the scheduler's node (ComputeUndelivered).
func (g *graph) undelivered(worker string, keys []string) {
	w := g.workers[worker]
	for _, k := range keys {
		t := g.tasks[k]
		if t == nil || t.state != tsProcessing || t.worker != worker {
			continue
		}
		if w != nil {
			w.unassign(k)
		}
		t.worker, t.state = "", tsWaiting
		g.ready(t)
	}
	g.fill()
}

// replicasStored records copies a holder acknowledged after their task's
// report (ReplicasStored). A copy the graph cannot use — the task is
// unknown or released, or has a value of another run — is dropped at once
// so that it does not linger unlisted on the holder.
func (g *graph) replicasStored(holder string, keys []string, gens []uint64) {
	live := g.workers[holder] != nil
	for i, k := range keys {
		var gen uint64
		if i < len(gens) {
			gen = gens[i]
		}
		t := g.tasks[k]
		if t == nil && g.adopting() {
			g.orphan(k, holder, gen) // its submission may be on its way (a new leader)
			continue
		}
		if live && t != nil && t.state == tsMemory && t.gen == gen {
			if !slices.Contains(t.holders, holder) {
				t.holders = append(t.holders, holder)
			}
			continue
		}
		if live && (t == nil || t.state != tsMemory || !slices.Contains(t.holders, holder)) {
			g.drop(holder, k, gen)
		}
	}
}

// valuesMissing forgets holders a client found without key's value; a
// value with no holder left is computed again (or, scattered, waits for a
// holder and then errs).
func (g *graph) valuesMissing(keys []string, holders [][]string) {
	for i, k := range keys {
		t := g.tasks[k]
		if t == nil || t.state != tsMemory || i >= len(holders) {
			continue
		}
		before := len(t.holders)
		t.holders = slices.DeleteFunc(t.holders, func(h string) bool { return slices.Contains(holders[i], h) })
		if len(t.holders) == before {
			continue
		}
		for _, h := range holders[i] {
			if g.workers[h] != nil {
				g.drop(h, k, t.gen) // whatever is left of it there
			}
		}
		if len(t.holders) == 0 {
			g.lost(t)
		}
	}
}

// expireMissing errs the scattered values that found no holder within
// missingGrace, and their dependants.
func (g *graph) expireMissing(now time.Time) {
	for k, o := range g.orphans {
		if now.Sub(o.since) < missingGrace {
			continue
		}
		delete(g.orphans, k)
		if g.tasks[k] == nil {
			for _, h := range o.holders {
				g.drop(h, k, o.gen)
			}
		}
	}
	for t, since := range g.missing {
		if now.Sub(since) < missingGrace {
			continue
		}
		delete(g.missing, t)
		if t.state == tsWaiting && len(t.holders) == 0 {
			g.fail(t, &TaskFailure{Kind: FailLost, Message: fmt.Sprintf("%s: every copy of this scattered value was lost with the nodes that held it (none came back within %v), and it has no lineage to recompute it from; scatter it again", t.spec.Key, missingGrace)})
		}
	}
}

// takeJoined returns the workers that appeared since the last call.
func (g *graph) takeJoined() []string {
	j := g.joined
	g.joined = nil
	return j
}

// holdings applies what a worker that (re)appeared holds: values that had
// no holder are in memory again (a missing scattered value, a result whose
// copies were thought lost), extra copies are recorded, and values the
// graph no longer knows are dropped.
func (g *graph) holdings(h *Holdings) {
	if g.workers[h.Worker] == nil {
		return
	}
	for i, k := range h.Keys {
		t := g.tasks[k]
		var gen uint64
		if i < len(h.Gens) {
			gen = h.Gens[i]
		}
		if t == nil {
			// Unknown: a value whose registration is on its way (a
			// scatter), or one released since the worker listed it. Kept
			// as an orphan for missingGrace (a registration adopts it),
			// then dropped. A stale orphan adopted by a resubmitted task
			// heals: a fetch that finds no value tells the scheduler
			// (ValuesMissing), which computes it again.
			g.orphan(k, h.Worker, gen)
			continue
		}
		t.gen = max(t.gen, gen)
		size := int64(0)
		if i < len(h.Sizes) {
			size = h.Sizes[i]
		}
		switch t.state {
		case tsMemory:
			if !slices.Contains(t.holders, h.Worker) {
				t.holders = append(t.holders, h.Worker)
			}
		case tsWaiting, tsReleased:
			delete(g.missing, t)
			t.waitingOn = 0
			g.complete(t, []string{h.Worker}, size)
		}
	}
	g.fill()
}

// taskQueue orders queued tasks by priority, then submission order.
type taskQueue []*stask

func (q taskQueue) Len() int { return len(q) }
func (q taskQueue) Less(i, j int) bool {
	if q[i].spec.Priority != q[j].spec.Priority {
		return q[i].spec.Priority > q[j].spec.Priority
	}
	return q[i].seq < q[j].seq
}
func (q taskQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].heapIndex, q[j].heapIndex = i, j
}
func (q *taskQueue) Push(x any) {
	t := x.(*stask)
	t.heapIndex = len(*q)
	*q = append(*q, t)
}
func (q *taskQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	t.heapIndex = -1
	return t
}

// explain describes keys as the graph sees them (ExplainRequest).
func (g *graph) explain(keys []string) []TaskExplanation {
	out := make([]TaskExplanation, 0, len(keys))
	for _, k := range keys {
		t, ok := g.tasks[k]
		if !ok {
			e := TaskExplanation{Key: k, State: "unknown"}
			if o, ok := g.orphans[k]; ok {
				e.Orphan, e.Gen = slices.Clone(o.holders), o.gen
			}
			out = append(out, e)
			continue
		}
		e := TaskExplanation{Key: k, State: t.state.String(), Worker: t.worker, Gen: t.gen,
			Holders: slices.Clone(t.holders), Size: t.size, Wanters: slices.Clone(t.wanters),
			Retries: t.retries, Pins: t.pins}
		if t.failure != nil {
			e.Failure = t.failure.Kind + ": " + t.failure.Message
		}
		for _, d := range t.deps {
			if d.state != tsMemory {
				e.WaitingOn = append(e.WaitingOn, d.spec.Key+"="+d.state.String())
			}
		}
		out = append(out, e)
	}
	return out
}

// Probing (TaskProbe): every probeEvery, each worker is asked about the
// tasks it was given more than probeAfter ago. A task the worker neither
// runs nor holds in probeMisses probes in a row was lost on the way (a
// Compute dropped, a stolen task whose reply went missing) and is placed
// again; a value it holds is taken as finished (its report was lost, or
// is held up while the value is copied to replicas). It returns the keys
// placed again and those whose report was lost.
const (
	probeEvery  = 5 * time.Second
	probeAfter  = 2 * time.Second
	probeMisses = 2
)

// probesDue returns, per worker due for a probe, the keys and runs to ask
// about, and marks those workers as probing.
func (g *graph) probesDue() map[string]*TaskProbe {
	now := g.now()
	var out map[string]*TaskProbe
	for _, id := range g.order {
		w := g.workers[id]
		if w.probing || now.Sub(w.probedAt) < probeEvery || len(w.running) == 0 {
			continue
		}
		var p *TaskProbe
		for k, t := range w.running {
			if t.state != tsProcessing || t.worker != id || now.Sub(t.assignedAt) < probeAfter {
				continue
			}
			if p == nil {
				p = &TaskProbe{}
			}
			p.Keys = append(p.Keys, k)
			p.Gens = append(p.Gens, t.gen)
		}
		if p == nil {
			continue
		}
		if out == nil {
			out = map[string]*TaskProbe{}
		}
		out[id] = p
		w.probing, w.probedAt = true, now
	}
	return out
}

// probed applies a worker's answer to a TaskProbe (r nil: no answer; the
// worker's liveness is membership's business). It returns the keys placed
// again.
func (g *graph) probed(worker string, asked *TaskProbe, r *TaskProbeReply) (lost, found []string) {
	w := g.workers[worker]
	if w == nil {
		return nil, nil
	}
	w.probing = false
	if r == nil {
		return nil, nil
	}
	running := make(map[string]bool, len(r.Running))
	for _, k := range r.Running {
		running[k] = true
	}
	held := make(map[string]int, len(r.Held))
	for i, k := range r.Held {
		held[k] = i
	}
	for i, k := range asked.Keys {
		t := g.tasks[k]
		if t == nil || t.state != tsProcessing || t.worker != worker || t.gen != asked.Gens[i] {
			continue // moved on since the probe left
		}
		if j, ok := held[k]; ok && j < len(r.Gens) && r.Gens[j] >= t.gen {
			// Computed and stored. Still listed as running: its report is
			// on its way (held up by copies to replicas), and the report
			// will only add holders. Not running: the report was lost.
			if !running[k] {
				found = append(found, k)
			}
			w.unassign(k)
			t.worker, t.unseen = "", 0
			t.gen = r.Gens[j]
			g.complete(t, []string{worker}, r.Sizes[j])
			continue
		}
		if running[k] {
			t.unseen = 0
			continue
		}
		t.unseen++
		if t.unseen < probeMisses {
			continue
		}
		lost = append(lost, k)
		w.unassign(k)
		t.worker, t.state, t.unseen = "", tsWaiting, 0
		g.recompute(t)
	}
	g.fill()
	return lost, found
}

// retirePushAgain: sole copies a retiring worker was asked to push that
// are still sole after this long are asked for again.
const retirePushAgain = 3 * time.Second

// retire drains a leaving worker (Dask's retire_workers): no task or
// replica is placed on it any more, the tasks it has not started move
// elsewhere (a steal of all of them), and every value of which it holds
// the only copy among the workers that stay is pushed to one of them
// (PushValues). Called again until done: nothing left running there and
// no value only there. It never recomputes anything.
// When every worker is leaving (a whole mesh shutting down, or the last
// node of one), nothing can move: it is done at once, nowhere set, and what
// runs or is held there is lost with the mesh.
func (g *graph) retire(id string) (done bool, running, sole int, nowhere bool) {
	w := g.workers[id]
	if w == nil {
		return true, 0, 0, false
	}
	now := g.now()
	w.retiring = true
	if w.stealOut == nil && len(w.running) > 0 {
		keys := make([]string, 0, len(w.running))
		for k, t := range w.running {
			if t.state == tsProcessing && t.worker == id {
				t.stealTo = "" // wherever fits (stolen)
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			w.stealOut, w.stealAt = map[string]int{}, now
			g.pending.steals[id] = append(g.pending.steals[id], keys...)
		}
	}
	var stay []string
	for _, oid := range g.order {
		if !g.workers[oid].retiring {
			stay = append(stay, oid)
		}
	}
	push := now.Sub(w.pushedAt) >= retirePushAgain
	var p *PushValues
	for k, t := range g.tasks {
		if t.state != tsMemory || !slices.Contains(t.holders, id) {
			continue
		}
		kept := false
		for _, h := range t.holders {
			if h != id && g.workers[h] != nil && !g.workers[h].retiring {
				kept = true
				break
			}
		}
		if kept {
			continue
		}
		sole++
		if !push || len(stay) == 0 {
			continue
		}
		if p == nil {
			p = &PushValues{}
		}
		p.Keys = append(p.Keys, k)
		p.Gens = append(p.Gens, t.gen)
		p.To = append(p.To, stay[g.rr%len(stay)])
		g.rr++
	}
	if p != nil {
		g.pending.pushes[id] = p
		w.pushedAt = now
	}
	if len(stay) == 0 {
		return true, len(w.running), sole, true
	}
	return len(w.running) == 0 && sole == 0, len(w.running), sole, false
}

// progress counts keys done (in memory, or released: computed, then
// dropped once nothing needed it), erred, and unknown (ProgressRequest).
func (g *graph) progress(keys []string) (done, erred, unknown int) {
	for _, k := range keys {
		t, ok := g.tasks[k]
		switch {
		case !ok:
			unknown++
		case t.state == tsMemory || t.state == tsReleased:
			done++
		case t.state == tsErred:
			erred++
		}
	}
	return done, erred, unknown
}
