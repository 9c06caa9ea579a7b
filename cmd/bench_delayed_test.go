package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// `mesh bench delayed` computes the tree and checks its total itself.
func TestBenchDelayed(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bench", "delayed", "--leaves", "101", "--runs", "2"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if got := strings.Count(out.String(), "(201 tasks) run"); got != 2 {
		t.Fatalf("output %q: want two runs of 201 tasks", out.String())
	}
	if code := run(context.Background(), []string{"bench", "delayed", "--leaves", "0"}, &out, &errOut); code != 2 {
		t.Fatalf("--leaves 0: exit %d, want 2", code)
	}
}
