package futures

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/consensus"
)

// Future is a reference to the result of a task (or a scattered value) held
// somewhere in the mesh.
type Future struct {
	c  *Client
	st *state
}

// Key is the task's key: deterministic for pure calls (the same function and
// arguments give the same key, computed once), unique otherwise.
func (f *Future) Key() string { return f.st.key }

// Done reports whether the task has finished (in memory, erred or cancelled).
func (f *Future) Done() bool {
	select {
	case <-f.st.done:
		return true
	default:
		return false
	}
}

// Status is "pending", "finished", "error" or "cancelled", as in Dask.
func (f *Future) Status() string {
	if !f.Done() {
		return "pending"
	}
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	switch f.st.status {
	case actors.StateMemory:
		return "finished"
	case actors.StateCancelled:
		return "cancelled"
	}
	return "error"
}

// Err waits for the task and returns its error, if it failed.
func (f *Future) Err(ctx context.Context) error {
	select {
	case <-f.st.done:
	case <-ctx.Done():
		return fmt.Errorf("wait for %s: %w", f.st.key, ctx.Err())
	}
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if f.st.status != actors.StateMemory {
		return taskError(f.st.key, f.st.failure)
	}
	return nil
}

// Result waits for the task and decodes its value into out (a pointer).
func (f *Future) Result(ctx context.Context, out any) error {
	raw, err := f.raw(ctx)
	if err != nil {
		return err
	}
	if err := msgpack.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode the value of %s into %T: %w", f.st.key, out, err)
	}
	return nil
}

// raw waits and fetches the encoded value from a holder.
func (f *Future) raw(ctx context.Context) ([]byte, error) {
	if err := f.Err(ctx); err != nil {
		return nil, err
	}
	f.c.mu.Lock()
	holders, value := f.st.holders, f.st.value
	f.c.mu.Unlock()
	if value != nil {
		return value, nil
	}
	vals, err := f.c.fetch(ctx, map[string][]string{f.st.key: holders})
	if err != nil {
		return nil, err
	}
	return vals[f.st.key], nil
}

// fetch gets values from their holders: the holders are asked at once,
// each for its keys in requests of at most fetchBatchBytes of values (one
// large value alone), one request at a time, so that neither side holds
// more than a batch of encoded values beyond the values themselves. When no
// holder of a key answers, the value was lost with its nodes: the mesh
// computes it again from its lineage and tells the client the new holders,
// so fetch waits for them (or for the key to err) until ctx ends.
func (c *Client) fetch(ctx context.Context, where map[string][]string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(where))
	pending := where
	tried := map[string]int{}
	// missing: holders that answered without the key (not merely
	// unreachable), told to the scheduler once every holder was tried.
	missing := map[string][]string{}
	for len(pending) > 0 {
		byHolder := map[string][]string{}
		var exhausted []string
		for k, hs := range pending {
			if tried[k] < len(hs) {
				byHolder[hs[tried[k]]] = append(byHolder[hs[tried[k]]], k)
				tried[k]++
			} else {
				exhausted = append(exhausted, k)
			}
		}
		next := map[string][]string{}
		var mu sync.Mutex // out, next, missing
		var wg sync.WaitGroup
		for h, keys := range byHolder {
			if vals, ok := c.inproc.Values(h, keys); ok {
				// A node of this process: its store, without the network.
				for i, k := range keys {
					if vals[i] == nil {
						next[k] = pending[k]
						missing[k] = append(missing[k], h)
						continue
					}
					out[k] = vals[i]
				}
				continue
			}
			wg.Go(func() {
				got, failed, lacked := c.fetchFrom(ctx, h, keys)
				mu.Lock()
				defer mu.Unlock()
				maps.Copy(out, got)
				for _, k := range failed {
					next[k] = pending[k]
				}
				for _, k := range lacked {
					missing[k] = append(missing[k], h)
				}
			})
		}
		wg.Wait()
		if len(exhausted) > 0 {
			c.reportMissing(ctx, exhausted, missing)
		}
		for _, k := range exhausted {
			holders, err := c.newHolders(ctx, k, pending[k])
			if err != nil {
				return nil, err
			}
			next[k] = holders
			tried[k] = 0
		}
		pending = next
	}
	return out, nil
}

// fetchBatchBytes bounds the values one fetch request asks for (by the
// sizes their holders reported).
const fetchBatchBytes = 16 << 20

// reportMissing tells the scheduler which holders of the exhausted keys
// answered without them, so that it stops counting them and computes the
// values again if no copy is left; the keys' records are cleared.
func (c *Client) reportMissing(ctx context.Context, exhausted []string, missing map[string][]string) {
	msg := &actors.ValuesMissing{}
	for _, k := range exhausted {
		if hs := missing[k]; len(hs) > 0 {
			msg.Keys = append(msg.Keys, k)
			msg.Holders = append(msg.Holders, hs)
			delete(missing, k)
		}
	}
	if len(msg.Keys) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.toScheduler(rctx, msg); err != nil {
		c.log.Debug("could not report missing values", "keys", len(msg.Keys), "err", err)
	}
}

// fetchFrom asks holder h for keys, in batches, and returns the values it
// gave, the keys it did not (missing, or the holder did not answer), and
// of those the keys it answered without (lacked).
func (c *Client) fetchFrom(ctx context.Context, h string, keys []string) (got map[string][]byte, failed, lacked []string) {
	got = make(map[string][]byte, len(keys))
	p, err := peer.Decode(h)
	if err != nil {
		return got, keys, nil
	}
	c.mu.Lock()
	sizes := make([]int64, len(keys))
	for i, k := range keys {
		if st := c.states[k]; st != nil {
			sizes[i] = st.size
		}
	}
	c.mu.Unlock()
	for start := 0; start < len(keys); {
		end, bytes := start, int64(0)
		for end < len(keys) && (end == start || bytes+sizes[end] <= fetchBatchBytes) {
			bytes += sizes[end]
			end++
		}
		batch := keys[start:end]
		start = end
		if err != nil { // the holder failed an earlier batch: don't wait on it again
			failed = append(failed, batch...)
			continue
		}
		// A minute per gigabyte beyond the first 10 s: a large value on a
		// busy machine is not a dead holder.
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second+time.Duration(bytes)*time.Minute/(1<<30))
		var r any
		r, err = c.conn.Request(rctx, p, actors.StoreID, &actors.FetchValues{Keys: batch})
		cancel()
		reply, ok := r.(*actors.FetchReply)
		if err == nil && !ok {
			err = fmt.Errorf("unexpected reply %T", r)
		}
		if err != nil {
			// Perhaps only its address is stale (restarted on another
			// port): learn the members' addresses again.
			c.refreshNow()
			failed = append(failed, batch...)
			continue
		}
		for i, k := range batch {
			if i >= len(reply.Values) || reply.Values[i] == nil {
				failed = append(failed, k)
				lacked = append(lacked, k)
				continue
			}
			got[k] = reply.Values[i]
		}
	}
	return got, failed, lacked
}

// newHolders waits until the client learns holders of key other than old,
// or that key erred; after refetchAfter it returns the holders it knows
// even if they are the same, to be asked again: a value recomputed after it
// was dropped (the client's keys were released) can land on the same
// nodes, and a holder whose address was stale is reachable once the client
// learned the new one.
func (c *Client) newHolders(ctx context.Context, key string, old []string) ([]string, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	for {
		c.mu.Lock()
		st := c.states[key]
		var holders []string
		var ferr error
		if st != nil {
			holders = st.holders
			if st.status != actors.StateMemory && st.status != "" {
				ferr = taskError(key, st.failure)
			}
		}
		c.mu.Unlock()
		if ferr != nil {
			return nil, ferr
		}
		if len(holders) > 0 && (!slices.Equal(holders, old) || time.Since(start) > refetchAfter) {
			return holders, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch %s: %w: no holder answered and no new copy came (%w)", key, ErrLost, ctx.Err())
		case <-t.C:
		}
	}
}

// refetchAfter: a fetch whose every holder failed asks them again after
// this long, even if no new holder was announced.
const refetchAfter = time.Second

// TaskOption is an option of one task, passed among Submit's arguments
// (like Dask's keyword arguments): Retries, Priority, Key, Pure, Resources,
// Workers.
type TaskOption interface{ apply(*taskOpts) }

type taskOpts struct {
	key       string
	pure      bool
	retries   int
	priority  int
	resources map[string]float64
	workers   []string
	replicas  int
}

type optFunc func(*taskOpts)

func (f optFunc) apply(o *taskOpts) { f(o) }

// Retries re-runs a task that returns an error or panics up to n times.
func Retries(n int) TaskOption { return optFunc(func(o *taskOpts) { o.retries = n }) }

// Priority orders ready tasks: higher first (default 0).
func Priority(p int) TaskOption { return optFunc(func(o *taskOpts) { o.priority = p }) }

// Key names the task yourself.
func Key(k string) TaskOption { return optFunc(func(o *taskOpts) { o.key = k }) }

// Pure(false) gives the task a unique key, so it runs again even with the
// same arguments (for functions with side effects or randomness).
func Pure(pure bool) TaskOption { return optFunc(func(o *taskOpts) { o.pure = pure }) }

// Resources the task holds while running, e.g. {"GPU": 1}.
func Resources(r map[string]float64) TaskOption {
	return optFunc(func(o *taskOpts) { o.resources = r })
}

// Workers restricts the task to these members (peer IDs or names).
func Workers(w ...string) TaskOption { return optFunc(func(o *taskOpts) { o.workers = w }) }

// Replicas sets how many copies of the task's result the mesh keeps while a
// client holds it (default 0: the mesh's --replicas). Replicas(1) suits a
// result fetched once and released: it is not copied, and lineage
// recomputes it if its node dies before the fetch. It is not part of the
// task's key.
func Replicas(n int) TaskOption { return optFunc(func(o *taskOpts) { o.replicas = max(n, 0) }) }

// Unique keys: a random prefix per process and a counter, so no two
// processes (or calls) share one, without a random read per task.
var (
	uniquePrefix = func() string {
		var b [8]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	uniqueSeq atomic.Uint64
)

// buildSpec turns a call into a task spec.
func buildSpec(fn string, args []any, common []TaskOption) (consensus.TaskSpec, error) {
	o := taskOpts{pure: true}
	for _, opt := range common {
		opt.apply(&o)
	}
	spec := consensus.TaskSpec{Func: fn}
	h := sha256.New()
	h.Write([]byte(fn))
	for _, a := range args {
		switch v := a.(type) {
		case TaskOption:
			v.apply(&o)
			continue
		case *Future:
			if v == nil {
				return spec, fmt.Errorf("%s: nil *Future argument", fn)
			}
			spec.Args = append(spec.Args, consensus.Arg{Ref: v.st.key})
			h.Write([]byte{1})
			h.Write([]byte(v.st.key))
		case Ref:
			if v.key == "" {
				return spec, fmt.Errorf("%s: zero Ref argument", fn)
			}
			spec.Args = append(spec.Args, consensus.Arg{Ref: v.key})
			h.Write([]byte{1})
			h.Write([]byte(v.key))
		default:
			b, err := msgpack.Marshal(a)
			if err != nil {
				return spec, fmt.Errorf("%s: argument %d (%T) cannot be encoded: %w", fn, len(spec.Args)+1, a, err)
			}
			spec.Args = append(spec.Args, consensus.Arg{Lit: b})
			h.Write([]byte{0})
			h.Write(b)
		}
	}
	switch {
	case o.key != "":
		spec.Key = o.key
	case o.pure:
		spec.Key = fn + "-" + hex.EncodeToString(h.Sum(nil)[:16])
	default:
		spec.Key = fn + "-" + uniquePrefix + "-" + strconv.FormatUint(uniqueSeq.Add(1), 36)
	}
	spec.Retries, spec.Priority, spec.Resources, spec.Workers = o.retries, o.priority, o.resources, o.workers
	spec.Replicas = o.replicas
	return spec, nil
}

// Submit calls fn(args...) in the mesh and returns a future of its result.
// An argument may be a *Future (the task then depends on it) or a
// TaskOption.
func (c *Client) Submit(ctx context.Context, fn string, args ...any) (*Future, error) {
	spec, err := buildSpec(fn, args, nil)
	if err != nil {
		return nil, err
	}
	fs, err := c.submit(ctx, []consensus.TaskSpec{spec})
	if err != nil {
		return nil, err
	}
	return fs[0], nil
}

// Map calls fn once per element of args (each element one argument, which
// may be a *Future) and returns the futures in order. opts apply to every
// task.
func (c *Client) Map(ctx context.Context, fn string, args []any, opts ...TaskOption) ([]*Future, error) {
	specs := make([]consensus.TaskSpec, len(args))
	for i, a := range args {
		var err error
		if specs[i], err = buildSpec(fn, []any{a}, opts); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return c.submit(ctx, specs)
}

// submit registers futures and sends the tasks in one message without
// waiting for the scheduler (as Dask does): a task it refuses errs its
// future. Calls of functions this binary knows are checked here first; for
// a function it does not know, submit waits for the scheduler's verdict, so
// an unknown name is an error at once.
func (c *Client) submit(ctx context.Context, specs []consensus.TaskSpec) ([]*Future, error) {
	want := make([]string, len(specs))
	for i, s := range specs {
		want[i] = s.Key
	}
	return c.submitGraph(ctx, specs, want)
}

// submitGraph submits specs and returns futures of the want keys (all of
// specs for Submit and Map; a graph's outputs for Compute).
func (c *Client) submitGraph(ctx context.Context, specs []consensus.TaskSpec, want []string) ([]*Future, error) {
	known := true
	for i := range specs {
		fn, err := funcs.Lookup(specs[i].Func)
		if err != nil {
			known = false
			continue
		}
		if err := fn.CheckArity(len(specs[i].Args)); err != nil {
			return nil, &TaskError{Key: specs[i].Key, Kind: actors.FailArgs, Message: err.Error()}
		}
	}
	fs := make([]*Future, len(want))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	inSubmission := make(map[string]bool, len(specs))
	for i := range specs {
		inSubmission[specs[i].Key] = true
	}
	for i := range specs {
		for _, dk := range specs[i].Deps() {
			if !inSubmission[dk] && c.states[dk] == nil {
				c.mu.Unlock()
				return nil, fmt.Errorf("%s: input %s: %w", specs[i].Key, dk, ErrReleased)
			}
		}
	}
	wanted := make(map[string]bool, len(want))
	for i, k := range want {
		fs[i] = c.ref(k)
		wanted[k] = true
	}
	var lineage map[string]consensus.TaskSpec
	var external []*state // held futures the graph's inner tasks read
	seenExternal := map[*state]bool{}
	for i := range specs {
		s := specs[i]
		// The futures it reads, held now (the caller passed them), stay
		// its lineage after they are released.
		var deps []*state
		for _, dk := range s.Deps() {
			if d := c.states[dk]; d != nil && !inSubmission[dk] {
				deps = append(deps, d)
			}
		}
		if wanted[s.Key] {
			st := c.states[s.Key]
			st.spec = &s
			st.deps = append(st.deps, deps...)
			continue
		}
		if lineage == nil {
			lineage = map[string]consensus.TaskSpec{}
		}
		lineage[s.Key] = s
		for _, d := range deps {
			if !seenExternal[d] {
				seenExternal[d] = true
				external = append(external, d)
			}
		}
	}
	if lineage != nil {
		for _, f := range fs {
			f.st.lineage = lineage
			f.st.deps = append(f.st.deps, external...)
		}
	}
	c.mu.Unlock()
	if known {
		// Queued: the submitter goroutine sends what has gathered as one
		// message, so a loop of Submits costs the scheduler few messages.
		flags := make([]bool, len(specs))
		for i, s := range specs {
			flags[i] = wanted[s.Key]
		}
		c.enqueue(specs, flags)
		return fs, nil
	}
	// The scheduler's verdict is needed now: send what is queued first, in
	// order, then this.
	if err := c.flushQueue(); err != nil {
		return nil, err
	}
	c.sendMu.Lock()
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	msg := &actors.SubmitTasks{Client: c.conn.ID(), Tasks: specs, Want: want}
	call, err := c.conn.Start(leader, actors.SchedulerID, msg)
	if err != nil {
		c.sendMu.Unlock()
		return nil, err
	}
	err = c.awaitSubmit(ctx, call, msg)
	c.sendMu.Unlock()
	if err != nil {
		rctx, cancel := context.WithTimeout(c.bg, 5*time.Second)
		c.Release(rctx, fs...)
		cancel()
		return nil, err
	}
	return fs, nil
}

// enqueue adds submissions for the submitter goroutine.
func (c *Client) enqueue(specs []consensus.TaskSpec, want []bool) {
	c.qmu.Lock()
	c.qspecs = append(c.qspecs, specs...)
	c.qwant = append(c.qwant, want...)
	c.qmu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// runSubmitter sends queued submissions as they come.
func (c *Client) runSubmitter() {
	defer c.wg.Done()
	for {
		select {
		case <-c.bg.Done():
			return
		case <-c.kick:
		}
		if err := c.flushQueue(); err != nil && c.bg.Err() == nil {
			c.log.Warn("submit", "err", err)
		}
	}
}

// flushQueue sends every queued submission, in order, in chunks. Everything
// a client sends to the scheduler goes under sendMu, so a release never
// overtakes the submission of its key.
func (c *Client) flushQueue() error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.qmu.Lock()
	specs, want := c.qspecs, c.qwant
	c.qspecs, c.qwant = nil, nil
	c.qmu.Unlock()
	if len(specs) == 0 {
		return nil
	}
	c.mu.Lock()
	leader := c.leader
	if c.dropSubmissions > 0 {
		c.dropSubmissions--
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	// Each chunk wants the keys of its own specs that the client holds.
	for len(specs) > 0 {
		n := min(len(specs), submitChunk)
		var keys []string
		for i := range n {
			if want[i] {
				keys = append(keys, specs[i].Key)
			}
		}
		// The scattered inputs come wanted: this client holds their
		// futures, and a scheduler that learns of them here only (their
		// registration died with a leader) must not drop them once the
		// tasks that read them are done.
		data := c.scatteredInputs(specs[:n])
		for _, d := range data {
			keys = append(keys, d.Key)
		}
		msg := &actors.SubmitTasks{Client: c.conn.ID(), Tasks: specs[:n], Want: keys, Data: data, More: n < len(specs)}
		if err := c.startSubmit(leader, msg); err != nil {
			var all []string
			for i := range specs {
				if want[i] {
					all = append(all, specs[i].Key)
				}
			}
			c.fail(all, err)
			return err
		}
		specs, want = specs[n:], want[n:]
	}
	return nil
}

// scatteredInputs are the scattered values the specs read, registered
// again with them: a leader that died right after acknowledging a Scatter
// may not have replicated it, and its successor must not meet a task whose
// input it has never heard of. The scheduler keeps what it knows better.
func (c *Client) scatteredInputs(specs []consensus.TaskSpec) []actors.DataItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.data) == 0 {
		return nil
	}
	var out []actors.DataItem
	seen := map[string]bool{}
	for i := range specs {
		for _, a := range specs[i].Args {
			if a.Ref == "" || seen[a.Ref] {
				continue
			}
			if d, ok := c.data[a.Ref]; ok {
				seen[a.Ref] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// submitChunk bounds the tasks of one submission message.
const submitChunk = 5000

// maxInflightTasks bounds the submitted tasks awaiting an answer.
const maxInflightTasks = 20000

// startSubmit sends a submission now and checks the scheduler's answer in
// the background: refused tasks, or a submission that never arrived, err
// their futures.
//
// At most maxInflightTasks submitted tasks wait for the scheduler's answer
// at once, so a huge graph flows to the scheduler at the pace it takes it
// instead of piling up in its mailbox, while many small submissions still
// stream without waiting for each other.
func (c *Client) startSubmit(leader peer.ID, msg *actors.SubmitTasks) error {
	n := int64(len(msg.Tasks) + len(msg.Data))
	if err := c.inflight.Acquire(c.bg, min(n, maxInflightTasks)); err != nil {
		return ErrClosed
	}
	call, err := c.conn.Start(leader, actors.SchedulerID, msg)
	if err != nil {
		c.inflight.Release(min(n, maxInflightTasks))
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.inflight.Release(min(n, maxInflightTasks))
		actx, cancel := context.WithTimeout(c.bg, time.Minute)
		defer cancel()
		if err := c.awaitSubmit(actx, call, msg); err != nil {
			c.fail(wantedTasks(msg), err)
		}
	}()
	return nil
}

// wantedTasks are the wanted keys of a submission's tasks: its scattered
// inputs are wanted too, but a failed submission does not harm their
// values.
func wantedTasks(msg *actors.SubmitTasks) []string {
	if len(msg.Data) == 0 {
		return msg.Want
	}
	tasks := make(map[string]bool, len(msg.Tasks))
	for i := range msg.Tasks {
		tasks[msg.Tasks[i].Key] = true
	}
	var out []string
	for _, k := range msg.Want {
		if tasks[k] {
			out = append(out, k)
		}
	}
	return out
}

// awaitSubmit waits for the scheduler's answer to a submission, sending it
// again to a new leader if the first could not be delivered. It returns the
// first refused task's error; refused tasks' futures are erred too.
func (c *Client) awaitSubmit(ctx context.Context, call *actors.Call, msg *actors.SubmitTasks) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	reply, err := call.Wait(wctx)
	cancel()
	if err != nil {
		var er *actors.ErrorReply
		if errors.Is(err, actors.ErrTimeout) || (errors.As(err, &er) && (er.Code == actors.CodeNoActor || er.Code == actors.CodeUnreachable)) {
			if _, ferr := c.findLeader(ctx); ferr == nil {
				reply, err = c.toScheduler(ctx, msg)
			}
		}
		if err != nil {
			return fmt.Errorf("submit %d tasks: %w", len(msg.Tasks), err)
		}
	}
	ack, ok := reply.(*actors.SubmitAck)
	if !ok || len(ack.Rejected) == 0 {
		return nil
	}
	var updates []actors.TaskUpdate
	c.mu.Lock()
	for _, r := range ack.Rejected {
		// An input the scheduler does not know although this client held
		// it when it submitted: its submission died unreplicated with a
		// leader. Given again with its lineage (a few times), it runs.
		if r.Failure != nil && r.Failure.Kind == actors.FailUnknownInput && c.unknownInput[r.Key] < maxUnknownInputRetries {
			c.unknownInput[r.Key]++
			c.owedKeys = append(c.owedKeys, r.Key)
			continue
		}
		updates = append(updates, actors.TaskUpdate{Key: r.Key, State: actors.StateErred, Failure: r.Failure})
	}
	c.mu.Unlock()
	if len(updates) == 0 {
		return nil
	}
	c.apply(updates)
	r := updates[0]
	return taskError(r.Key, r.Failure)
}

// maxUnknownInputRetries: how many times a task refused for an unknown
// input is given to the scheduler again (with its lineage) before it errs.
const maxUnknownInputRetries = 3

// fail errs pending futures of keys with err.
func (c *Client) fail(keys []string, err error) {
	updates := make([]actors.TaskUpdate, len(keys))
	for i, k := range keys {
		updates[i] = actors.TaskUpdate{Key: k, State: actors.StateErred, Failure: &actors.TaskFailure{Kind: actors.FailError, Message: err.Error()}}
	}
	c.apply(updates)
}

// ref returns a new Future for key, sharing its state. Caller holds c.mu.
func (c *Client) ref(key string) *Future {
	st := c.states[key]
	if st == nil {
		st = &state{key: key, done: make(chan struct{})}
		c.states[key] = st
	}
	st.refs++
	return &Future{c: c, st: st}
}

// Gather waits for every future and returns their values (decoded into Go's
// generic types: int64, float64, string, []any, map[string]any...). The
// first failed future's error is returned. GatherAs decodes into a type.
func (c *Client) Gather(ctx context.Context, fs []*Future) ([]any, error) {
	return GatherAs[any](ctx, c, fs)
}

// GatherAs waits for every future and decodes the values into T. It
// returns as soon as any future fails, with that future's error. With T
// RawBytes the values (msgpack bin) are not copied: they alias the fetched
// bytes — for a LocalCluster's client, the holder's store — and must not be
// modified.
func GatherAs[T any](ctx context.Context, c *Client, fs []*Future) ([]T, error) {
	for f, err := range c.AsCompleted(ctx, fs) {
		if err != nil {
			return nil, err
		}
		_ = f
	}
	where := make(map[string][]string, len(fs))
	raw := make(map[string][]byte, len(fs))
	c.mu.Lock()
	for _, f := range fs {
		if f.st.value != nil {
			raw[f.st.key] = f.st.value
		} else {
			where[f.st.key] = f.st.holders
		}
	}
	c.mu.Unlock()
	if len(where) > 0 {
		fetched, err := c.fetch(ctx, where)
		if err != nil {
			return nil, err
		}
		for k, v := range fetched {
			raw[k] = v
		}
	}
	out := make([]T, len(fs))
	for i, f := range fs {
		if p, ok := any(&out[i]).(*RawBytes); ok {
			var err error
			if *p, err = funcs.DecodeRaw(raw[f.st.key]); err != nil {
				return nil, fmt.Errorf("decode the value of %s into %T: %w", f.st.key, out[i], err)
			}
			continue
		}
		if err := msgpack.Unmarshal(raw[f.st.key], &out[i]); err != nil {
			return nil, fmt.Errorf("decode the value of %s into %T: %w", f.st.key, out[i], err)
		}
	}
	return out, nil
}

// AsCompleted yields each future as it finishes, in finishing order, with
// its error if it failed. It stops early if ctx ends (yielding ctx's error)
// or the loop breaks.
func (c *Client) AsCompleted(ctx context.Context, fs []*Future) iter.Seq2[*Future, error] {
	return func(yield func(*Future, error) bool) {
		// One channel, told by each key as it finishes: no goroutine per
		// future, so a million futures cost a million channel sends.
		byState := make(map[*state][]*Future, len(fs))
		for _, f := range fs {
			byState[f.st] = append(byState[f.st], f)
		}
		ch := make(chan *state, len(byState))
		c.mu.Lock()
		for st := range byState {
			select {
			case <-st.done:
				ch <- st
			default:
				st.watchers = append(st.watchers, ch)
			}
		}
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			for st := range byState {
				st.watchers = slices.DeleteFunc(st.watchers, func(w chan<- *state) bool { return w == ch })
			}
			c.mu.Unlock()
		}()
		for range byState {
			select {
			case st := <-ch:
				for _, f := range byState[st] {
					if !yield(f, f.Err(ctx)) {
						return
					}
				}
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
	}
}

// ReturnWhen says when Wait returns.
type ReturnWhen int

// Wait conditions.
const (
	AllCompleted ReturnWhen = iota
	FirstCompleted
)

// Wait blocks until all (or the first) of fs finish and returns the done
// and not-done futures.
func (c *Client) Wait(ctx context.Context, fs []*Future, when ReturnWhen) (done, notDone []*Future, err error) {
	for f, ferr := range c.AsCompleted(ctx, fs) {
		if f == nil {
			err = ferr
			break
		}
		if when == FirstCompleted {
			break
		}
	}
	for _, f := range fs {
		if f.Done() {
			done = append(done, f)
		} else {
			notDone = append(notDone, f)
		}
	}
	return done, notDone, err
}

// Scatter stores values in the mesh (replicated before it returns) and
// returns futures for them, to pass to tasks.
func (c *Client) Scatter(ctx context.Context, values []any) ([]*Future, error) {
	keys := make([]string, len(values))
	enc := make([][]byte, len(values))
	// Keys are the values' hashes (equal values of one call are one key)
	// and the call's own number: scattering the same values again right
	// after releasing them must not give the old keys, whose drops may
	// still be on their way to the stores and would take the new copies.
	call := uniquePrefix + "-" + strconv.FormatUint(uniqueSeq.Add(1), 36)
	for i, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("scatter element %d (%T): %w", i, v, err)
		}
		sum := sha256.Sum256(b)
		keys[i], enc[i] = "scatter-"+hex.EncodeToString(sum[:12])+"-"+call, b
	}
	c.mu.Lock()
	members := c.members
	leader := c.leader
	c.mu.Unlock()
	var alive []string
	for _, m := range members {
		if m.State == "alive" {
			alive = append(alive, m.ID)
		}
	}
	if len(alive) == 0 {
		alive = []string{leader.String()}
	}
	// One node takes the values and copies them on to another before
	// answering: Scatter returns once they are replicated. Successive
	// scatters go round the members.
	slices.Sort(alive)
	c.mu.Lock()
	first := c.scatterNext % len(alive)
	c.scatterNext++
	c.mu.Unlock()
	target := alive[first]
	var replicas []string
	if len(alive) > 1 {
		replicas = []string{alive[(first+1)%len(alive)]}
	}
	tp, err := peer.Decode(target)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	r, err := c.conn.Request(rctx, tp, actors.StoreID, &actors.StoreValues{Keys: keys, Values: enc, Replicas: replicas})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("scatter %d values: %w", len(values), err)
	}
	ack, ok := r.(*actors.StoreAck)
	if !ok {
		return nil, fmt.Errorf("scatter: unexpected reply %T", r)
	}
	// The copy failed (its node died meanwhile, say): make another from
	// here, on each other member in turn, until the values have two.
	holders := slices.Clone(ack.Holders)
	for i := 1; len(holders) < min(2, len(alive)) && i < len(alive); i++ {
		other := alive[(first+i)%len(alive)]
		if slices.Contains(holders, other) {
			continue
		}
		op, err := peer.Decode(other)
		if err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = c.conn.Request(rctx, op, actors.StoreID, &actors.StoreValues{Keys: keys, Values: enc})
		cancel()
		if err == nil {
			holders = append(holders, other)
		}
	}
	ack = &actors.StoreAck{Holders: holders}
	items := make([]actors.DataItem, len(keys))
	for i, k := range keys {
		items[i] = actors.DataItem{Key: k, Holders: ack.Holders, Size: int64(len(enc[i]))}
	}
	fs := make([]*Future, len(keys))
	c.mu.Lock()
	for i, k := range keys {
		fs[i] = c.ref(k)
		c.data[k] = items[i]
		fs[i].st.data = &items[i]
	}
	skip := c.unregisteredScatter
	c.mu.Unlock()
	if err := c.flushQueue(); err != nil {
		return nil, err
	}
	if skip {
		return fs, nil
	}
	c.sendMu.Lock()
	_, err = c.toScheduler(ctx, &actors.SubmitTasks{Client: c.conn.ID(), Data: items, Want: keys})
	c.sendMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("scatter: register values: %w", err)
	}
	return fs, nil
}

// Release drops the client's interest in futures. When a key has no future
// left in any client, and no task needs it, the mesh forgets it and frees
// its memory.
func (c *Client) Release(ctx context.Context, fs ...*Future) error {
	return c.drop(ctx, fs, false)
}

// Cancel stops futures that have not finished (they become cancelled) and
// releases them.
func (c *Client) Cancel(ctx context.Context, fs ...*Future) error {
	return c.drop(ctx, fs, true)
}

func (c *Client) drop(ctx context.Context, fs []*Future, cancel bool) error {
	var keys []string
	c.mu.Lock()
	for _, f := range fs {
		if f == nil || f.st.refs == 0 {
			continue
		}
		f.st.refs--
		if cancel && f.st.status == "" {
			f.st.status = actors.StateCancelled
			f.st.failure = &actors.TaskFailure{Kind: actors.FailCancelled, Message: f.st.key + ": cancelled"}
			finishLocked(f.st)
		}
		if f.st.refs == 0 || cancel {
			if c.states[f.st.key] == f.st {
				delete(c.states, f.st.key)
				delete(c.data, f.st.key)
				delete(c.unknownInput, f.st.key)
			}
			keys = append(keys, f.st.key)
		}
	}
	closed := c.closed
	c.mu.Unlock()
	if len(keys) == 0 || closed {
		return nil
	}
	if err := c.flushQueue(); err != nil {
		return err
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	_, err := c.toScheduler(ctx, &actors.ReleaseKeys{Client: c.conn.ID(), Keys: keys, Cancel: cancel})
	return err
}

// FireAndForget lets the mesh run futures to completion even when this
// client releases them or goes away.
func (c *Client) FireAndForget(ctx context.Context, fs ...*Future) error {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.st.key
	}
	if err := c.flushQueue(); err != nil {
		return err
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	_, err := c.toScheduler(ctx, &actors.SubmitTasks{Client: actors.FireAndForgetClient, Want: keys})
	return err
}
