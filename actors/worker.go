package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/actors/store"
)

// The worker side of a node: a pool of Threads goroutines runs assigned
// tasks; a reporter goroutine copies finished values to their replica nodes
// in batches and then reports the batch to the leader's scheduler.

const fetchTimeout = 10 * time.Second

// finishedTask is a computed task on its way to the reporter.
type finishedTask struct {
	result   TaskResult
	value    []byte
	replicas []string
	// computeAt: when its inputs were there and its function was called
	// (zero if it was not); fetched: input bytes fetched from other nodes.
	computeAt time.Time
	fetched   int64
}

// putValue stores a value of generation gen (0: none). The generation is
// recorded first: a drop of an earlier run of the key that arrives while
// the value is being stored must not take it.
func (n *Node) putValue(key string, v []byte, gen uint64) error {
	if gen != 0 {
		n.gensMu.Lock()
		if n.gens == nil {
			n.gens = map[string]uint64{}
		}
		n.gens[key] = max(n.gens[key], gen)
		n.gensMu.Unlock()
	}
	return n.store.Put(key, v)
}

// dropValues forgets keys, except those holding a later generation than
// the drop's (gens beside keys; 0 or absent: any generation). A value
// stored again by a new run of a released task can reach the store before
// the drop of the old run does: the drop and the new value come from
// different senders (the scheduler; the worker itself or a replica's
// source), in either order.
func (n *Node) dropValues(keys []string, gens []uint64) {
	drop := keys
	n.gensMu.Lock()
	if len(n.gens) > 0 {
		drop = make([]string, 0, len(keys))
		for i, k := range keys {
			var g uint64
			if i < len(gens) {
				g = gens[i]
			}
			if held, ok := n.gens[k]; ok && g != 0 && held > g {
				continue
			}
			delete(n.gens, k)
			drop = append(drop, k)
		}
	}
	n.gensMu.Unlock()
	if kept := len(keys) - len(drop); kept > 0 {
		n.log.Debug("kept values of a later run than their drop", "count", kept)
	}
	n.store.Delete(drop...)
}

// workerActor ("node/worker") receives Compute batches and queues them for
// the pool.
type workerActor struct{ n *Node }

func (a *workerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *HoldingsRequest:
		keys := a.n.store.Keys()
		sizes := make([]int64, len(keys))
		gens := make([]uint64, len(keys))
		a.n.gensMu.Lock()
		for i, k := range keys {
			sizes[i], _ = a.n.store.Size(k)
			gens[i] = a.n.gens[k]
		}
		a.n.gensMu.Unlock()
		a.n.assignedMu.Lock()
		running := make([]string, 0, len(a.n.assigned))
		for k := range a.n.assigned {
			running = append(running, k)
		}
		a.n.assignedMu.Unlock()
		ctx.Respond(&Holdings{Worker: a.n.self, Keys: keys, Sizes: sizes, Running: running, Gens: gens})
	case *PushValues:
		// Draining before a leave: copy these values to the workers that
		// stay, then tell the scheduler they hold them.
		a.n.spawn(func(ctx context.Context) { a.n.pushValues(ctx, m) })
	case *TaskProbe:
		reply := &TaskProbeReply{Worker: a.n.self}
		a.n.assignedMu.Lock()
		for _, k := range m.Keys {
			if _, ok := a.n.assigned[k]; ok {
				reply.Running = append(reply.Running, k)
			}
		}
		a.n.assignedMu.Unlock()
		a.n.gensMu.Lock()
		for _, k := range m.Keys {
			if size, ok := a.n.store.Size(k); ok {
				reply.Held = append(reply.Held, k)
				reply.Sizes = append(reply.Sizes, size)
				reply.Gens = append(reply.Gens, a.n.gens[k])
			}
		}
		a.n.gensMu.Unlock()
		ctx.Respond(reply)
	case *Compute:
		a.n.assignedMu.Lock()
		for _, t := range m.Tasks {
			if !a.n.assigned[t.Spec.Key] {
				a.n.assigned[t.Spec.Key] = false
			}
		}
		a.n.assignedMu.Unlock()
		for _, t := range m.Tasks {
			select {
			case a.n.taskCh <- t:
			case <-a.n.ctx.Done():
				return
			}
		}
	case *StealRequest:
		reply := &StealReply{Worker: a.n.self}
		a.n.assignedMu.Lock()
		for _, k := range m.Keys {
			if started, ok := a.n.assigned[k]; ok && !started {
				delete(a.n.assigned, k)
				a.n.stolen[k]++
				reply.Gave = append(reply.Gave, k)
			} else {
				reply.Kept = append(reply.Kept, k)
			}
		}
		a.n.assignedMu.Unlock()
		a.n.spawn(func(c context.Context) { a.n.report(c, reply) })
	}
}

// storeActor ("node/store") serves the node's values to peers and takes
// replicas.
type storeActor struct{ n *Node }

func (a *storeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *FetchValues:
		reply := &FetchReply{Values: make([][]byte, len(m.Keys))}
		for i, k := range m.Keys {
			v, err := a.n.store.Get(k)
			if err != nil {
				reply.Missing = append(reply.Missing, k)
				continue
			}
			reply.Values[i] = v
		}
		a.n.metrics.transfer(transferServe, valueBytes(reply.Values))
		ctx.Respond(reply)
	case *StoreValues:
		for i, k := range m.Keys {
			var gen uint64
			if i < len(m.Gens) {
				gen = m.Gens[i]
			}
			if err := a.n.putValue(k, m.Values[i], gen); err != nil {
				var se *store.SpillError
				if !errors.As(err, &se) {
					ctx.Respond(&ErrorReply{Code: CodeFailed, Message: fmt.Sprintf("node %s: store %s: %v", a.n.self, k, err)})
					return
				}
			}
		}
		if len(m.Replicas) == 0 {
			ctx.Respond(&StoreAck{Holders: []string{a.n.self}})
			return
		}
		sender := ctx.Sender()
		a.n.spawn(func(c context.Context) {
			holders := append([]string{a.n.self}, a.n.replicate(c, m.Replicas, m.Keys, m.Values, m.Gens)...)
			a.n.sys.Root.Send(sender, &StoreAck{Holders: holders})
		})
	case *DropValues:
		if term := a.n.raft.Term(); m.Term != 0 && m.Term < term {
			a.n.log.Info("ignoring drops from a deposed leader's scheduler", "count", len(m.Keys), "its_term", m.Term, "term", term)
			return
		}
		if a.n.log.Enabled(context.Background(), slog.LevelDebug) {
			a.n.log.Debug("dropping values", "count", len(m.Keys), "keys", m.Keys[:min(len(m.Keys), 8)], "term", m.Term)
		}
		a.n.dropValues(m.Keys, m.Gens)
	}
}

// replicate copies values to each target and returns the targets that
// acknowledged.
func (n *Node) replicate(ctx context.Context, targets []string, keys []string, values [][]byte, gens []uint64) []string {
	var mu sync.Mutex
	var ok []string
	var wg sync.WaitGroup
	for _, t := range targets {
		p, err := peer.Decode(t)
		if err != nil || t == n.self {
			continue
		}
		if n.storeLocal(t, keys, values, gens) {
			n.metrics.transfer(transferReplica, valueBytes(values))
			mu.Lock()
			ok = append(ok, t)
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, fetchTimeout)
			defer cancel()
			if _, err := replyAs[StoreAck](n.remote.Request(c, n.remote.PID(p, StoreID), &StoreValues{Keys: keys, Values: values, Gens: gens})); err != nil {
				n.log.Warn("replicate failed", "to", t, "keys", len(keys), "err", err)
				return
			}
			n.metrics.transfer(transferReplica, valueBytes(values))
			mu.Lock()
			ok = append(ok, t)
			mu.Unlock()
		})
	}
	wg.Wait()
	return ok
}

// runPool runs tasks in pool slot slot until the node closes.
func (n *Node) runPool(ctx context.Context, slot int) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-n.taskCh:
			n.assignedMu.Lock()
			if n.stolen[a.Spec.Key] > 0 {
				if n.stolen[a.Spec.Key]--; n.stolen[a.Spec.Key] == 0 {
					delete(n.stolen, a.Spec.Key)
				}
				n.assignedMu.Unlock()
				continue // given to another worker
			}
			n.assigned[a.Spec.Key] = true
			n.assignedMu.Unlock()
			n.metrics.running.Add(1)
			start := time.Now()
			f := n.runTask(ctx, a)
			n.metrics.running.Add(-1)
			n.metrics.observeTask(a.Spec.Func, &f)
			n.recordTask(slot, start, &f)
			select {
			case n.doneCh <- f:
			case <-ctx.Done():
				return
			}
		}
	}
}

// runTask gathers a task's inputs, calls its function and stores the value.
func (n *Node) runTask(ctx context.Context, a Assignment) finishedTask {
	spec := &a.Spec
	res := TaskResult{Key: spec.Key}
	fail := func(kind, msg, stack string) finishedTask {
		res.Failure = &TaskFailure{Kind: kind, Message: msg, Stack: stack, Worker: n.self}
		return finishedTask{result: res}
	}
	fn, err := funcs.Lookup(spec.Func)
	if err != nil {
		return fail(FailUnknown, fmt.Sprintf("%s: node %s: %v", spec.Key, n.self, err), "")
	}
	args := make([][]byte, len(spec.Args))
	// how each input came: 0 here (literal or local), 1 fetched, 2 missing
	how := make([]uint8, len(spec.Args))
	var wg sync.WaitGroup
	for i, arg := range spec.Args {
		if arg.Ref == "" {
			args[i] = arg.Lit
			continue
		}
		if v, err := n.store.Get(arg.Ref); err == nil {
			args[i] = v
			continue
		}
		// Inputs held elsewhere are fetched at once, not one after another.
		wg.Go(func() {
			v, err := n.input(ctx, arg.Ref, a.Deps[arg.Ref])
			args[i], how[i] = v, 1
			if err != nil {
				how[i] = 2
			}
		})
	}
	wg.Wait()
	var fetched int64
	for i, h := range how {
		switch h {
		case 1:
			fetched += int64(len(args[i]))
		case 2:
			res.Missing = append(res.Missing, spec.Args[i].Ref)
		}
	}
	if len(res.Missing) > 0 {
		return finishedTask{result: res, fetched: fetched}
	}
	start := time.Now()
	out, err := fn.Call(ctx, args)
	res.Micros = time.Since(start).Microseconds()
	if err != nil {
		f := n.failed(spec.Key, err, res)
		f.computeAt, f.fetched = start, fetched
		return f
	}
	if err := n.putValue(spec.Key, out, a.Gen); err != nil {
		var se *store.SpillError
		if !errors.As(err, &se) {
			return fail(FailError, fmt.Sprintf("%s: store the result on %s: %v", spec.Key, n.self, err), "")
		}
	}
	res.Size = int64(len(out))
	res.Holders = []string{n.self}
	res.Gen = a.Gen
	if len(out) <= InlineMax {
		res.Inline = out
	}
	return finishedTask{result: res, value: out, replicas: a.Replicas, computeAt: start, fetched: fetched}
}

// failed is the finished task of a function call that returned err.
func (n *Node) failed(key string, err error, res TaskResult) finishedTask {
	kind, stack := FailError, ""
	var pe *funcs.PanicError
	var te *funcs.TaskError
	switch {
	case errors.As(err, &pe):
		kind, stack = FailPanic, pe.Stack
	case errors.As(err, &te):
	case errors.Is(err, funcs.ErrArgs):
		kind = FailArgs
	}
	res.Failure = &TaskFailure{Kind: kind, Message: fmt.Sprintf("%s: %v", key, err), Stack: stack, Worker: n.self}
	return finishedTask{result: res}
}

// input returns a dependency's value: from this node's store, or fetched
// from a holder.
func (n *Node) input(ctx context.Context, key string, holders []string) ([]byte, error) {
	if v, err := n.store.Get(key); err == nil {
		return v, nil
	}
	var last error = fmt.Errorf("no holder of %s", key)
	for _, h := range holders {
		if h == n.self {
			continue
		}
		start := time.Now()
		if v, ok := n.localValue(h, key); ok {
			n.metrics.transfer(transferFetch, len(v))
			n.bandwidth.observe(len(v), time.Since(start))
			return v, nil
		}
		p, err := peer.Decode(h)
		if err != nil {
			continue
		}
		c, cancel := context.WithTimeout(ctx, fetchTimeout)
		reply, err := replyAs[FetchReply](n.remote.Request(c, n.remote.PID(p, StoreID), &FetchValues{Keys: []string{key}}))
		cancel()
		if err != nil {
			last = err
			continue
		}
		if len(reply.Missing) == 0 && len(reply.Values) == 1 {
			n.metrics.transfer(transferFetch, len(reply.Values[0]))
			n.bandwidth.observe(len(reply.Values[0]), time.Since(start))
			return reply.Values[0], nil
		}
		last = fmt.Errorf("%s does not hold %s", h, key)
	}
	return nil, last
}

// runReporter batches finished tasks: copies their values to replica nodes
// (one message per target per batch), then reports the batch to the leader.
func (n *Node) runReporter(ctx context.Context) {
	var batch []finishedTask
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case f := <-n.doneCh:
			batch = append(batch, f)
		}
	drain:
		for len(batch) < 4096 {
			select {
			case f := <-n.doneCh:
				batch = append(batch, f)
			default:
				break drain
			}
		}
		n.replicateBatch(ctx, batch)
		results := make([]TaskResult, len(batch))
		for i := range batch {
			results[i] = batch[i].result
		}
		n.report(ctx, &TasksFinished{Worker: n.self, Results: results, Bandwidth: n.bandwidth.rate()})
		n.assignedMu.Lock()
		for i := range results {
			delete(n.assigned, results[i].Key)
		}
		n.assignedMu.Unlock()
	}
}

// replicaWait bounds how long a batch's report waits for its replicas: a
// replica target that is slow or paused (not yet known dead) must not hold
// up every completion of this worker. Copies acknowledged later are
// reported on their own (ReplicasStored).
const replicaWait = time.Second

// pushValues copies values to the targets a retiring worker was given,
// one message per target, and reports each target's copies.
func (n *Node) pushValues(ctx context.Context, m *PushValues) {
	type group struct {
		keys   []string
		values [][]byte
		gens   []uint64
	}
	groups := map[string]*group{}
	for i, k := range m.Keys {
		if i >= len(m.To) || i >= len(m.Gens) {
			break
		}
		v, err := n.store.Get(k)
		if err != nil {
			continue // gone meanwhile: the scheduler will see it sole no more or lost
		}
		g := groups[m.To[i]]
		if g == nil {
			g = &group{}
			groups[m.To[i]] = g
		}
		g.keys = append(g.keys, k)
		g.values = append(g.values, v)
		g.gens = append(g.gens, m.Gens[i])
	}
	var wg sync.WaitGroup
	for to, g := range groups {
		wg.Go(func() {
			if ok := n.replicate(ctx, []string{to}, g.keys, g.values, g.gens); len(ok) == 1 {
				n.report(ctx, &ReplicasStored{Worker: n.self, Holder: to, Keys: g.keys, Gens: g.gens})
			}
		})
	}
	wg.Wait()
}

// maxReplicasInFlight bounds the copies (one per batch and target) on
// their way to one replica target.
const maxReplicasInFlight = 4

// replicaSlot takes (delta 1; false when all are taken) or gives back
// (delta -1) a slot of copies in flight to target.
func (n *Node) replicaSlot(target string, delta int) bool {
	n.replMu.Lock()
	defer n.replMu.Unlock()
	if n.replInFlight == nil {
		n.replInFlight = map[string]int{}
	}
	if delta > 0 && n.replInFlight[target] >= maxReplicasInFlight {
		return false
	}
	n.replInFlight[target] += delta
	if n.replInFlight[target] <= 0 {
		delete(n.replInFlight, target)
	}
	return true
}

// replicateBatch sends every value of the batch to its replica targets,
// grouped by target, and records in the results the targets that
// acknowledged within replicaWait; the later ones are reported when they
// do.
func (n *Node) replicateBatch(ctx context.Context, batch []finishedTask) {
	type group struct {
		target string
		keys   []string
		values [][]byte
		gens   []uint64
		idx    []int
	}
	groups := map[string]*group{}
	for i, f := range batch {
		if f.result.Failure != nil || len(f.result.Missing) > 0 {
			continue
		}
		for _, r := range f.replicas {
			g := groups[r]
			if g == nil {
				g = &group{target: r}
				groups[r] = g
			}
			g.keys = append(g.keys, f.result.Key)
			g.values = append(g.values, f.value)
			g.gens = append(g.gens, f.result.Gen)
			g.idx = append(g.idx, i)
		}
	}
	if len(groups) == 0 {
		return
	}
	acked := make(chan *group, len(groups))
	started := 0
	for _, g := range groups {
		if !n.replicaSlot(g.target, 1) {
			// Copies to it are still on their way from earlier batches
			// (slow or paused): these results go without that copy
			// rather than pile up in memory behind it.
			n.log.Debug("replica target busy; results stay with fewer copies", "to", g.target, "keys", len(g.keys))
			continue
		}
		started++
		n.spawn(func(ctx context.Context) {
			defer n.replicaSlot(g.target, -1)
			if ok := n.replicate(ctx, []string{g.target}, g.keys, g.values, g.gens); len(ok) == 1 {
				acked <- g
			} else {
				acked <- nil
			}
		})
	}
	timer := time.NewTimer(replicaWait)
	defer timer.Stop()
	for pending := started; pending > 0; pending-- {
		select {
		case g := <-acked:
			if g == nil {
				continue
			}
			for _, i := range g.idx {
				if !slices.Contains(batch[i].result.Holders, g.target) {
					batch[i].result.Holders = append(batch[i].result.Holders, g.target)
				}
			}
		case <-timer.C:
			// The rest report themselves when (if) they are acknowledged.
			n.spawn(func(ctx context.Context) {
				for ; pending > 0; pending-- {
					select {
					case g := <-acked:
						if g != nil {
							n.report(ctx, &ReplicasStored{Worker: n.self, Holder: g.target, Keys: g.keys, Gens: g.gens})
						}
					case <-ctx.Done():
						return
					}
				}
			})
			return
		case <-ctx.Done():
			return
		}
	}
}

// report sends a message to the leader's scheduler, waiting for a leader
// if there is none at the moment.
func (n *Node) report(ctx context.Context, m any) {
	for {
		if leader, ok := n.raft.Leader(); ok {
			n.sys.Root.Send(n.remote.PID(leader, SchedulerID), m)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
