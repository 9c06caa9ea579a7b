package actors

import (
	"slices"
	"time"
)

// Work stealing (Dask's): tasks placed on a worker because it holds their
// inputs can pile up there while another worker idles. When a worker has
// idle threads and another holds more tasks than it has threads, the
// scheduler asks the busy one to give up some it has not started
// (StealRequest); it answers with those it gave up (StealReply), which go
// to the idle worker. A task already started stays where it is. Stealing
// pays only when waiting costs more than moving: tiny tasks are never
// stolen, and a task whose inputs are large moves only for a long wait.

const (
	// unknownMicros is the run time assumed for a worker that has not
	// finished a task yet (Dask assumes half a second; new workers often
	// run long tasks, and a wrong guess costs one round trip).
	unknownMicros = 500_000
	// stealTimeout: a StealRequest unanswered this long is given up (the
	// tasks stay with their worker).
	stealTimeout = 5 * time.Second
)

// balance asks busy workers for tasks on behalf of idle ones.
func (g *graph) balance(now time.Time) {
	if len(g.order) < 2 {
		return
	}
	for _, id := range g.order {
		if w := g.workers[id]; w.stealOut != nil && now.Sub(w.stealAt) > stealTimeout {
			g.stealDone(w)
		}
	}
	asked := map[*sworker]int{} // victims asked this round, tasks asked
	for _, id := range g.order {
		thief := g.workers[id]
		free := thief.nthreads - len(thief.running) - thief.incoming
		if free <= 0 || thief.retiring {
			continue
		}
		victim, excess := g.busiest(thief, asked)
		if victim == nil {
			continue
		}
		keys := g.pickStolen(victim, thief, min(free, (excess+1)/2), asked[victim] > 0)
		if len(keys) == 0 {
			continue
		}
		if victim.stealOut == nil {
			victim.stealOut, victim.stealAt = map[string]int{}, now
		}
		victim.stealOut[thief.id] += len(keys)
		thief.incoming += len(keys)
		asked[victim] += len(keys)
		g.pending.steals[victim.id] = append(g.pending.steals[victim.id], keys...)
	}
}

// busiest is the worker, other than thief and with no steal unanswered
// from an earlier round, holding the most tasks beyond its threads (less
// those asked of it this round), if the wait there is worth a move.
func (g *graph) busiest(thief *sworker, asked map[*sworker]int) (*sworker, int) {
	var best *sworker
	bestExcess := 0
	for _, id := range g.order {
		v := g.workers[id]
		if _, now := asked[v]; v == thief || (v.stealOut != nil && !now) {
			continue
		}
		excess := len(v.running) - v.nthreads - asked[v]
		if excess <= bestExcess {
			continue
		}
		// The last task of the backlog waits this long before it starts.
		if g.taskMicros(v)*float64(excess)/float64(v.nthreads) < 2*pipelineMicros {
			continue
		}
		best, bestExcess = v, excess
	}
	return best, bestExcess
}

func (g *graph) taskMicros(w *sworker) float64 {
	if w.avgMicros <= 0 {
		return unknownMicros
	}
	return w.avgMicros
}

// pickStolen chooses up to n of the victim's tasks for the thief: the
// latest assigned (the ones least likely started) that the thief may run
// and that are worth moving.
// again: the victim was asked already this round (skip tasks it was asked
// for).
func (g *graph) pickStolen(victim, thief *sworker, n int, again bool) []string {
	if n <= 0 {
		return nil
	}
	wait := g.taskMicros(victim) * float64(len(victim.running)-victim.nthreads) / float64(victim.nthreads)
	var picked []*stask
	for _, t := range victim.running {
		if (again && t.stealTo != "") || !g.allowed(t, thief) {
			continue
		}
		if move := g.moveMicros(t, thief); move*2 > wait {
			continue
		}
		// Keep the n latest by submission order.
		i, _ := slices.BinarySearchFunc(picked, t, func(a, b *stask) int {
			switch {
			case a.seq > b.seq:
				return -1
			case a.seq < b.seq:
				return 1
			}
			return 0
		})
		if i >= n {
			continue
		}
		picked = slices.Insert(picked, i, t)
		if len(picked) > n {
			picked = picked[:n]
		}
	}
	keys := make([]string, len(picked))
	for i, t := range picked {
		t.stealTo = thief.id
		keys[i] = t.spec.Key
	}
	return keys
}

// allowed reports whether the task may run on w (worker restrictions and
// resources free there).
func (g *graph) allowed(t *stask, w *sworker) bool {
	if len(t.spec.Workers) > 0 && !slices.Contains(t.spec.Workers, w.id) && !slices.Contains(t.spec.Workers, w.name) {
		return false
	}
	return w.fits(t.spec.Resources)
}

// moveMicros estimates what running t on w costs beyond running it where
// it is: the inputs w does not hold, and a round trip.
func (g *graph) moveMicros(t *stask, w *sworker) float64 {
	var bytes int64
	for _, d := range t.deps {
		if !slices.Contains(d.holders, w.id) {
			bytes += d.size
		}
	}
	return pipelineMicros + float64(bytes)/g.transferRate()
}

// stealDone forgets the steal asked of w: its thieves expect no more.
func (g *graph) stealDone(w *sworker) {
	for id, n := range w.stealOut {
		if thief := g.workers[id]; thief != nil {
			thief.incoming = max(thief.incoming-n, 0)
		}
	}
	w.stealOut = nil
}

// stolen applies a victim's answer: tasks it gave up go to the thief they
// were meant for (or wherever fits now); the others stay.
func (g *graph) stolen(victimID string, gave, kept []string) {
	victim := g.workers[victimID]
	if victim != nil {
		g.stealDone(victim)
	}
	for _, k := range kept {
		if t := g.tasks[k]; t != nil && t.worker == victimID {
			t.stealTo = ""
		}
	}
	for _, k := range gave {
		t := g.tasks[k]
		if t == nil || t.state != tsProcessing || t.worker != victimID {
			continue // finished, failed or moved meanwhile
		}
		thief := g.workers[t.stealTo]
		t.stealTo = ""
		if victim != nil {
			victim.unassign(k)
		}
		t.worker = ""
		if thief != nil && g.allowed(t, thief) {
			g.assign(t, thief)
			continue
		}
		g.ready(t)
	}
}
