package actors

import (
	"cmp"
	"slices"
	"strings"
)

// KeySplit is a task key's group, as Dask's key_split: the key's leading
// '-'-separated words, up to the first word that holds a digit or
// anything but letters, '.' and '_', or that looks like a hex token (eight
// or more hex letters). "chaos.inc-ab12…" and "square-3f0c…-7" are
// groups "chaos.inc" and "square"; "bag-map-1f2e" is "bag-map". It returns
// a substring of key: no allocation.
func KeySplit(key string) string {
	end := strings.IndexByte(key, '-')
	if end <= 0 {
		return key
	}
	for end < len(key) {
		next := strings.IndexByte(key[end+1:], '-')
		word := key[end+1:]
		if next >= 0 {
			word = key[end+1 : end+1+next]
		}
		if !groupWord(word) {
			break
		}
		if next < 0 {
			end = len(key)
		} else {
			end += 1 + next
		}
	}
	return key[:end]
}

// groupWord: a word that names (letters, '.', '_'), not a hex token.
func groupWord(w string) bool {
	if w == "" {
		return false
	}
	hex := len(w) >= 8
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case c >= 'g' && c <= 'z', c >= 'G' && c <= 'Z', c == '.', c == '_':
			hex = false
		default:
			return false
		}
	}
	return !hex
}

// GroupCount is one task group's tasks by state.
type GroupCount struct {
	Name       string `msgpack:"n" json:"name"`
	Waiting    int    `msgpack:"w,omitempty" json:"waiting"`
	Queued     int    `msgpack:"q,omitempty" json:"queued"`
	Processing int    `msgpack:"p,omitempty" json:"processing"`
	Memory     int    `msgpack:"m,omitempty" json:"memory"`
	Erred      int    `msgpack:"e,omitempty" json:"erred"`
	Released   int    `msgpack:"r,omitempty" json:"released"`
	Total      int    `msgpack:"t" json:"total"`
}

func groupCount(name string, c *[tsReleased + 1]int) GroupCount {
	g := GroupCount{Name: name, Waiting: c[tsWaiting], Queued: c[tsQueued], Processing: c[tsProcessing], Memory: c[tsMemory],
		Erred: c[tsErred], Released: c[tsReleased]}
	for _, k := range c {
		g.Total += k
	}
	return g
}

// Bounds of a graph's group table: groups past maxGroups are counted
// under OtherGroup; group edges past maxGroupEdges are not recorded.
const (
	maxGroups     = 1000
	maxGroupEdges = 5000
	// OtherGroup holds the tasks of groups past the table's bound.
	OtherGroup = "(other groups)"
)

// groupTable interns a graph's task groups: each task carries its group's
// id (set once, when the task is created), so counting by group costs an
// array index per task. Ids of groups left with no task are reused.
type groupTable struct {
	names []string // by id; "" for a free id; id 0 is OtherGroup
	order []uint64 // by id: when the group was first seen (for display order)
	ids   map[string]int32
	free  []int32
	seq   uint64
	// edges between groups: a task of the first group is an input of a
	// task of the second.
	edges map[[2]int32]struct{}
}

func newGroupTable() *groupTable {
	return &groupTable{names: []string{OtherGroup}, order: []uint64{0}, ids: map[string]int32{}, edges: map[[2]int32]struct{}{}}
}

// id returns key's group id, interning a new group.
func (gt *groupTable) id(key string) int32 {
	name := KeySplit(key)
	if id, ok := gt.ids[name]; ok {
		return id
	}
	if len(gt.ids) >= maxGroups {
		return 0
	}
	name = strings.Clone(name) // do not keep the whole key alive
	var id int32
	if n := len(gt.free); n > 0 {
		id, gt.free = gt.free[n-1], gt.free[:n-1]
	} else {
		id = int32(len(gt.names))
		gt.names, gt.order = append(gt.names, ""), append(gt.order, 0)
	}
	gt.seq++
	gt.names[id], gt.order[id] = name, gt.seq
	gt.ids[name] = id
	return id
}

// link records that a task of group from is an input of one of group to.
func (gt *groupTable) link(from, to int32) {
	if from == to {
		return
	}
	e := [2]int32{from, to}
	if _, ok := gt.edges[e]; !ok && len(gt.edges) < maxGroupEdges {
		gt.edges[e] = struct{}{}
	}
}

// counted takes a count of the graph's tasks by group (indexed by id):
// groups with no task left are forgotten and their ids freed. It returns
// the groups with tasks, oldest first.
func (gt *groupTable) counted(counts [][tsReleased + 1]int) []GroupCount {
	var out []GroupCount
	var ids []int32
	for id := range counts {
		total := 0
		for _, k := range counts[id] {
			total += k
		}
		switch {
		case total > 0:
			out = append(out, groupCount(gt.names[id], &counts[id]))
			ids = append(ids, int32(id))
		case id != 0 && gt.names[id] != "":
			delete(gt.ids, gt.names[id])
			gt.names[id] = ""
			gt.free = append(gt.free, int32(id))
			for e := range gt.edges {
				if e[0] == int32(id) || e[1] == int32(id) {
					delete(gt.edges, e)
				}
			}
		}
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(gt.order[ids[a]], gt.order[ids[b]]) })
	sorted := make([]GroupCount, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted
}

// GroupEdge: tasks of group From are inputs of tasks of group To.
type GroupEdge struct {
	From string `msgpack:"f" json:"from"`
	To   string `msgpack:"t" json:"to"`
}

// edgeList is the recorded group edges between live groups.
func (gt *groupTable) edgeList() []GroupEdge {
	out := make([]GroupEdge, 0, len(gt.edges))
	for e := range gt.edges {
		if gt.names[e[0]] != "" && gt.names[e[1]] != "" {
			out = append(out, GroupEdge{From: gt.names[e[0]], To: gt.names[e[1]]})
		}
	}
	slices.SortFunc(out, func(a, b GroupEdge) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	return out
}

// GraphRequest asks the leader's scheduler for its graph: every task with
// its inputs when there are at most Limit of them, otherwise a summary by
// task group only.
type GraphRequest struct {
	Limit int `msgpack:"limit"`
}

// GraphTask is one task of a GraphView.
type GraphTask struct {
	Key   string `msgpack:"k" json:"key"`
	Group string `msgpack:"g" json:"group"`
	State string `msgpack:"s" json:"state"`
	// Deps are the indices (in GraphView.Tasks) of its inputs.
	Deps []int32 `msgpack:"d,omitempty" json:"deps,omitempty"`
}

// GraphView answers a GraphRequest.
type GraphView struct {
	Node       string `msgpack:"node" json:"node"`
	Term       uint64 `msgpack:"term" json:"term"`
	Recovering bool   `msgpack:"recovering,omitempty" json:"recovering"`
	Total      int    `msgpack:"total" json:"total"`
	Limit      int    `msgpack:"limit" json:"limit"`
	// Truncated: more than Limit tasks; Tasks is empty and Groups and
	// GroupEdges summarize the graph.
	Truncated bool        `msgpack:"truncated" json:"truncated"`
	Tasks     []GraphTask `msgpack:"tasks" json:"tasks"`
	// EdgesDropped: inputs left out of Deps (past maxGraphEdges).
	EdgesDropped int          `msgpack:"edges_dropped,omitempty" json:"edges_dropped"`
	Groups       []GroupCount `msgpack:"groups" json:"groups"`
	GroupEdges   []GroupEdge  `msgpack:"group_edges" json:"group_edges"`
}

// MaxGraphLimit bounds GraphRequest.Limit; maxGraphEdges bounds the
// inputs listed in one view.
const (
	MaxGraphLimit = 5000
	maxGraphEdges = 4 * MaxGraphLimit
)

// view answers a GraphRequest in time bounded by the limit (a truncated
// view reads the last group count, no task).
func (g *graph) view(limit int, last *TaskCounts) *GraphView {
	limit = min(max(limit, 1), MaxGraphLimit)
	v := &GraphView{Total: len(g.tasks), Limit: limit, GroupEdges: g.groups.edgeList()}
	if len(g.tasks) > limit {
		v.Truncated = true
		if last != nil {
			v.Groups = last.Groups
		}
		return v
	}
	ts := make([]*stask, 0, len(g.tasks))
	for _, t := range g.tasks {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *stask) int { return cmp.Compare(a.seq, b.seq) })
	idx := make(map[*stask]int32, len(ts))
	for i, t := range ts {
		idx[t] = int32(i)
	}
	counts := make([][tsReleased + 1]int, len(g.groups.names))
	edges := 0
	v.Tasks = make([]GraphTask, len(ts))
	for i, t := range ts {
		counts[t.group][t.state]++
		gt := GraphTask{Key: t.spec.Key, Group: g.groups.names[t.group], State: t.state.String()}
		for _, d := range t.deps {
			if j, ok := idx[d]; ok && edges < maxGraphEdges {
				gt.Deps = append(gt.Deps, j)
				edges++
			} else {
				v.EdgesDropped++
			}
		}
		v.Tasks[i] = gt
	}
	for id := range counts {
		total := 0
		for _, k := range counts[id] {
			total += k
		}
		if total > 0 {
			v.Groups = append(v.Groups, groupCount(g.groups.names[id], &counts[id]))
		}
	}
	slices.SortFunc(v.Groups, func(a, b GroupCount) int {
		return cmp.Compare(g.groups.order[g.groups.ids[a.Name]], g.groups.order[g.groups.ids[b.Name]])
	})
	return v
}
