package consensus

import (
	"slices"
)

// The replicated part of the task graphs: every submitted task that some
// client still wants, with its lineage (the tasks it reads, kept while it
// may need recomputing) and its wanters. Completions are not replicated: a
// new leader learns where results are from the workers that hold them, so
// Raft stays off the per-task path. Submissions and releases are batched by
// the scheduler into few log entries.

// DataItem is a stored value that has no lineage (scattered data).
type DataItem struct {
	Key     string   `msgpack:"k"`
	Holders []string `msgpack:"h"`
	Size    int64    `msgpack:"s"`
}

// TaskRecord is one task of the replicated graph.
type TaskRecord struct {
	Spec       TaskSpec `msgpack:"s"`
	Data       bool     `msgpack:"d,omitempty"`
	Wanters    []string `msgpack:"w,omitempty"`
	Dependents int      `msgpack:"n,omitempty"` // records that read this one
}

// More commands: graph submissions and releases, and batches.
const (
	OpSubmit  Op = "submit"  // Client wants Want; Tasks and Data join the graph
	OpRelease Op = "release" // Client no longer wants Keys
	OpBatch   Op = "batch"   // Batch applied in order, as one log entry
)

func (f *fsm) applyGraph(c Command) {
	switch c.Op {
	case OpSubmit:
		for _, d := range c.Data {
			if _, ok := f.tasks[d.Key]; !ok {
				f.tasks[d.Key] = &TaskRecord{Spec: TaskSpec{Key: d.Key}, Data: true}
			}
		}
		for _, spec := range c.Tasks {
			if _, ok := f.tasks[spec.Key]; ok {
				continue
			}
			f.tasks[spec.Key] = &TaskRecord{Spec: spec}
			for _, dk := range spec.Deps() {
				if d, ok := f.tasks[dk]; ok {
					d.Dependents++
				}
			}
		}
		for _, k := range c.Want {
			if r, ok := f.tasks[k]; ok && !slices.Contains(r.Wanters, c.Client) {
				r.Wanters = append(r.Wanters, c.Client)
			}
		}
	case OpRelease:
		for _, k := range c.Keys {
			r, ok := f.tasks[k]
			if !ok {
				continue
			}
			r.Wanters = slices.DeleteFunc(r.Wanters, func(w string) bool { return w == c.Client })
			f.collect(k, r)
		}
	}
}

// collect forgets a record nobody wants and nothing reads, and then its
// inputs if that leaves them unused.
func (f *fsm) collect(key string, r *TaskRecord) {
	if len(r.Wanters) > 0 || r.Dependents > 0 {
		return
	}
	delete(f.tasks, key)
	for _, dk := range r.Spec.Deps() {
		if d, ok := f.tasks[dk]; ok {
			d.Dependents--
			f.collect(dk, d)
		}
	}
}

// Tasks returns a copy of the replicated graph (records are shared
// read-only: do not modify them).
func (n *Node) Tasks() map[string]TaskRecord {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	out := make(map[string]TaskRecord, len(n.fsm.tasks))
	for k, r := range n.fsm.tasks {
		out[k] = *r
	}
	return out
}
