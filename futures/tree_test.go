package futures

import (
	"testing"
)

// TestTreeReductionReleasingLevels builds a tree reduction level by level
// and releases each level once the next one is submitted, as a user
// keeping memory low would.
func TestTreeReductionReleasingLevels(t *testing.T) {
	_, c := newCluster(t, 3)
	ctx := ctxT(t)
	n := 4000
	args := make([]any, n)
	for i := range args {
		args[i] = i
	}
	level, err := c.Map(ctx, "test.inc", args, Pure(false))
	if err != nil {
		t.Fatal(err)
	}
	for len(level) > 1 {
		var next []*Future
		for i := 0; i+1 < len(level); i += 2 {
			f, err := c.Submit(ctx, "test.add", level[i], level[i+1], Pure(false))
			if err != nil {
				t.Fatal(err)
			}
			next = append(next, f)
		}
		done := level
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
			done = level[:len(level)-1]
		}
		if err := c.Release(ctx, done...); err != nil {
			t.Fatal(err)
		}
		level = next
	}
	var sum int
	if err := level[0].Result(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if want := n * (n + 1) / 2; sum != want {
		t.Fatalf("sum %d, want %d", sum, want)
	}
}
