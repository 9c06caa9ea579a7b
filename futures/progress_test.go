package futures

import (
	"bytes"
	"context"
	"errors"
	"strings"
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
