package consensus

// The task vocabulary: what a submitted graph is made of. It lives here, the
// lowest package that needs it, because submitted graphs (task specs and
// their lineage) are part of the replicated state.

// Arg is one argument of a task: a literal msgpack value, or a reference to
// another task's result by key.
type Arg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Lit      []byte   `msgpack:"l,omitempty"`
	Ref      string   `msgpack:"r,omitempty"`
}

// TaskSpec is one task of a graph.
type TaskSpec struct {
	_msgpack struct{} `msgpack:",as_array"`
	Key      string   `msgpack:"k"`
	Func     string   `msgpack:"f,omitempty"` // registered function name; empty for scattered data
	Args     []Arg    `msgpack:"a,omitempty"`
	// Priority: higher runs first among ready tasks.
	Priority int `msgpack:"p,omitempty"`
	// Retries: how many times a failed call is re-run before it errs.
	Retries int `msgpack:"r,omitempty"`
	// Resources the task holds while it runs (e.g. {"GPU": 1}).
	Resources map[string]float64 `msgpack:"res,omitempty"`
	// Workers restricts the task to these members (peer IDs or names).
	Workers []string `msgpack:"w,omitempty"`
	// Replicas: copies of the result while a client holds it (0: the
	// mesh's --replicas). 1 suits a result fetched once and released:
	// lineage recomputes it if its node dies first.
	Replicas int `msgpack:"rp,omitempty"`
}

// Deps returns the keys the task reads.
func (t *TaskSpec) Deps() []string {
	var out []string
	for _, a := range t.Args {
		if a.Ref != "" {
			out = append(out, a.Ref)
		}
	}
	return out
}
