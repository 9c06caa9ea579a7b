package futures

import "testing"

// Replicas is carried in the spec and is not part of the key: the same call
// asked for with fewer copies is the same task.
func TestReplicasOptionAndSetReplicas(t *testing.T) {
	plain, err := buildSpec("f", []any{1, "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	once, err := buildSpec("f", []any{1, "x", Replicas(1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if once.Key != plain.Key || once.Replicas != 1 || plain.Replicas != 0 {
		t.Fatalf("keys %s / %s, replicas %d / %d", once.Key, plain.Key, once.Replicas, plain.Replicas)
	}
	g := NewGraph()
	a, _ := g.Add("f", 1)
	b, _ := g.Add("f", 2, a)
	g.SetReplicas(1, b)
	for _, s := range g.specs {
		if want := map[string]int{a.Key(): 0, b.Key(): 1}[s.Key]; s.Replicas != want {
			t.Fatalf("%s: replicas %d, want %d", s.Key, s.Replicas, want)
		}
	}
}
