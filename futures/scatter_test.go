package futures

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scattering the same values again right after releasing them must not
// lose them to the release's drop still on its way to their holders (the
// drop and the new copy reach the store from different senders, in either
// order): a task on them would wait for a holder forever. Found by the
// array tests (a chunk scattered per Compute); each round here is a few ms.
func TestScatterAgainAfterRelease(t *testing.T) {
	_, c := newCluster(t, 2)
	vals := []any{1, 2, 3, 4}
	for i := range 300 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		fs, err := c.Scatter(ctx, vals)
		if err != nil {
			cancel()
			t.Fatalf("round %d: scatter: %v", i, err)
		}
		g := NewGraph()
		var refs []Ref
		for _, f := range fs {
			r, err := g.Add("test.add", f, i%3)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			refs = append(refs, r)
		}
		out, err := c.Compute(ctx, g, refs...)
		if err != nil {
			cancel()
			t.Fatalf("round %d: compute: %v", i, err)
		}
		got, err := GatherAs[int](ctx, c, out)
		if err != nil {
			cancel()
			t.Fatalf("round %d: gather: %v\n%s", i, err, describeStates(c, append(fs, out...)))
		}
		for k, v := range got {
			if v != k+1+i%3 {
				t.Fatalf("round %d: value %d = %d, want %d", i, k, v, k+1+i%3)
			}
		}
		c.Release(context.WithoutCancel(ctx), append(fs, out...)...)
		cancel()
	}
}

// A pure task computed again right after its value was released gets its
// old key: the release's drop, still on its way, must not take the new
// value (drops name the run they are for: Assignment.Gen).
func TestRecomputeAgainAfterRelease(t *testing.T) {
	_, c := newCluster(t, 2)
	for i := range 300 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		g := NewGraph()
		var refs []Ref
		for k := range 4 {
			r, err := g.Add("test.add", k, i%3) // the keys come back every 3 rounds
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			refs = append(refs, r)
		}
		out, err := c.Compute(ctx, g, refs...)
		if err != nil {
			cancel()
			t.Fatalf("round %d: compute: %v", i, err)
		}
		got, err := GatherAs[int](ctx, c, out)
		if err != nil {
			cancel()
			t.Fatalf("round %d: gather: %v\n%s", i, err, describeStates(c, out))
		}
		for k, v := range got {
			if v != k+i%3 {
				t.Fatalf("round %d: value %d = %d, want %d", i, k, v, k+i%3)
			}
		}
		c.Release(context.WithoutCancel(ctx), out...)
		cancel()
	}
}

// describeStates is what the client knows of fs, for a failure message.
func describeStates(c *Client, fs []*Future) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s: status %q holders %v refs %d\n", f.st.key, f.st.status, f.st.holders, f.st.refs)
	}
	return b.String()
}
