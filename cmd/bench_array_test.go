package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/meshcompute/mesh/collections/array"
)

// `mesh bench array` on small shapes: a line per run, the tutorial's
// result checked against the plain computation.
func TestBenchArray(t *testing.T) {
	for _, extra := range [][]string{nil, {"--no-fusion", "--no-rewrite"}} {
		var out, errOut bytes.Buffer
		args := append([]string{"bench", "array", "--n", "300", "--chunk", "70", "--matmul-n", "200", "--runs", "2", "--check"}, extra...)
		if code := run(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s\n%s", extra, code, errOut.String(), out.String())
		}
		for _, re := range []string{
			`(?m)^tutorial run1: [0-9.]+s shape=\[150\]$`, `(?m)^tutorial run2: `,
			`(?m)^tutorial check: 150 values, max \|mesh - plain\| = `,
			`(?m)^matmul 200x200 sum run1: [0-9.]+s sum=`, `(?m)^matmul 200x200 sum run2: `,
			`(?m)^matmul check: sum [0-9.e+]+, plain [0-9.e+]+, relative difference `,
		} {
			if !regexp.MustCompile(re).MatchString(out.String()) {
				t.Fatalf("%v: no %s in\n%s", extra, re, out.String())
			}
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bench", "array", "--n", "100", "--chunk", "30", "--matmul-n", "60", "--runs", "2", "--check", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("--json: exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct {
			Bench, Workload string
			Run             int
			Seconds         *float64
			MaxAbsDiff      *float64 `json:"max_abs_diff"`
			Relative        *float64 `json:"relative_difference"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Bench != "array" {
			t.Fatalf("--json: line %q is not an array bench object: %v", line, err)
		}
		switch r.Workload {
		case "tutorial", "matmul":
			if r.Run < 1 || r.Seconds == nil || *r.Seconds <= 0 {
				t.Fatalf("--json: %q lacks run or seconds", line)
			}
		case "tutorial check":
			if r.MaxAbsDiff == nil || *r.MaxAbsDiff > 1e-9 {
				t.Fatalf("--json: %q", line)
			}
		case "matmul check":
			if r.Relative == nil || *r.Relative > 1e-9 {
				t.Fatalf("--json: %q", line)
			}
		default:
			t.Fatalf("--json: unknown workload in %q", line)
		}
		seen[r.Workload]++
	}
	if want := map[string]int{"tutorial": 2, "matmul": 2, "tutorial check": 1, "matmul check": 1}; !maps.Equal(seen, want) {
		t.Fatalf("--json: lines by workload %v, want %v", seen, want)
	}

	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"bench", "array", "--workload", "nope"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "want tutorial, matmul or all") {
		t.Fatalf("bad workload: exit %d, %s", code, errOut.String())
	}
}

// The matmul reference against sum(a @ b) by the triple loop.
func TestMatMulSumReference(t *testing.T) {
	const n, seedA, seedB = 5, 3, 4
	want := 0.0
	for i := range n {
		for j := range n {
			for k := range n {
				want += array.RandomValue(seedA, i*n+k) * array.RandomValue(seedB, k*n+j)
			}
		}
	}
	if got := MatMulSumReference(n, seedA, seedB); math.Abs(got-want) > 1e-12*math.Abs(want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

// The reference itself, on a 4x4 array written out by hand.
func TestTutorialReference(t *testing.T) {
	const n, seed = 4, 5
	x := func(i, j int) float64 { return array.RandomValue(seed, i*n+j) }
	m2 := (x(2, 0) + x(2, 1) + x(2, 2) + x(2, 3)) / 4
	m3 := (x(3, 0) + x(3, 1) + x(3, 2) + x(3, 3)) / 4
	want0 := ((x(0, 2) + x(2, 0) - m2) + (x(0, 3) + x(3, 0) - m3)) / 2
	want1 := ((x(2, 2) + x(2, 2) - m2) + (x(2, 3) + x(3, 2) - m3)) / 2
	got := TutorialReference(n, seed)
	if len(got) != 2 || got[0] != want0 || got[1] != want1 {
		t.Fatalf("%v, want [%v %v]", got, want0, want1)
	}
}
