package futures

// SetReplicas sets how many copies of each of refs' results the mesh keeps
// while a client holds it (see Replicas): a collection's Compute, which
// fetches its outputs once and releases them, asks for 1.
func (g *Graph) SetReplicas(n int, refs ...Ref) {
	want := make(map[string]bool, len(refs))
	for _, r := range refs {
		want[r.key] = true
	}
	for i := range g.specs {
		if want[g.specs[i].Key] {
			g.specs[i].Replicas = max(n, 0)
		}
	}
}
