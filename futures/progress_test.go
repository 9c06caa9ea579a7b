package futures

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// Progress waits for every future and draws finished / total on the writer
// it is given; to a writer that is not a terminal, unasked, it draws
// nothing; when ctx ends first it returns ctx's error.
func TestProgress(t *testing.T) {
	_, c := newCluster(t, 2)
	ctx := ctxT(t)
	args := make([]any, 20)
	for i := range args {
		args[i] = 20
	}
	fs, err := c.Map(ctx, "test.sleep", args)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := c.Map(ctx, "test.fail", []any{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	all := append(fs, bad...)
	var buf bytes.Buffer
	if err := c.Progress(ctx, all, ProgressTo(&buf), ProgressName("sleeps")); err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if !f.Done() {
			t.Fatalf("%s not finished after Progress", f.Key())
		}
	}
	out := buf.String()
	if !strings.Contains(out, "sleeps") || !strings.Contains(out, "22 / 22") || !strings.Contains(out, "2 erred") {
		t.Fatalf("progress output %q: want the name, 22 / 22 and 2 erred", out)
	}

	var quiet bytes.Buffer
	more, err := c.Map(ctx, "test.sleep", []any{5, 6})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Progress(ctx, more, func(o *progressOpts) { o.out = &quiet }); err != nil || quiet.Len() != 0 {
		t.Fatalf("not a terminal: %q, %v; want nothing drawn", quiet.String(), err)
	}

	slow, err := c.Submit(ctx, "test.sleep", 5000)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	var cut bytes.Buffer
	if err := c.Progress(short, []*Future{slow}, ProgressTo(&cut)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Progress past its context: %v, want deadline exceeded", err)
	}
	c.Cancel(ctx, slow)
}

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WithProgress: Compute draws a bar of the whole graph's tasks (not only
// its outputs) while they run.
func TestComputeProgress(t *testing.T) {
	lc, _ := newCluster(t, 2)
	ctx := ctxT(t)
	var buf lockedBuffer
	c, err := lc.Client(ctx, WithProgress(ProgressTo(&buf), ProgressName("graph")))
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph()
	var level []Ref
	for i := range 80 { // 80 × 40 ms on 2 nodes × 2 threads: at least 0.8 s, past the bar's delay
		r, err := g.Add("test.sleepon", i, 40)
		if err != nil {
			t.Fatal(err)
		}
		level = append(level, r)
	}
	for len(level) > 1 { // a tree of adds: 79 more tasks
		var next []Ref
		for i := 0; i+1 < len(level); i += 2 {
			r, err := g.Add("test.add", level[i], level[i+1])
			if err != nil {
				t.Fatal(err)
			}
			next = append(next, r)
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	outs, err := c.Compute(ctx, g, level[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Wait(ctx, outs, AllCompleted); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s := buf.String(); !strings.Contains(s, "graph") || !strings.Contains(s, "159 / 159"); s = buf.String() {
		if time.Now().After(deadline) {
			t.Fatalf("bar %q: want the name and 159 / 159", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close() // waits for the bar's goroutine
}
