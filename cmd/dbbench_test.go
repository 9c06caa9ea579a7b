package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/meshcompute/mesh/collections/dataframe/dbbench"
)

const dbbenchFixtures = "../../shared/fixtures/dbbench"

// `mesh dbbench join` on the J1_1e5 fixture: a line per run, and answers
// in the fixtures' format that match DuckDB's.
func TestDBBenchJoin(t *testing.T) {
	if _, err := os.Stat(dbbenchFixtures); err != nil {
		t.Skipf("fixtures not found at %s: %v", dbbenchFixtures, err)
	}
	prefix := filepath.Join(dbbenchFixtures, "J1_1e5")
	for _, strategy := range []string{"auto", "shuffle"} {
		t.Run(strategy, func(t *testing.T) {
			dir := t.TempDir()
			var out, errOut bytes.Buffer
			args := []string{"dbbench", "join", "--data", prefix, "--runs", "1", "--answers", dir, "--strategy", strategy, "--shuffle-partitions", "3"}
			if code := run(context.Background(), args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
			}
			for _, q := range []string{"q1", "q2", "q3", "q4", "q5"} {
				if !regexp.MustCompile(`(?m)^` + q + ` run1: [0-9.]+s rows=[0-9]+$`).MatchString(out.String()) {
					t.Fatalf("no line for %s in\n%s", q, out.String())
				}
				got, err := os.ReadFile(filepath.Join(dir, q+".csv"))
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join(dbbenchFixtures, "answers", "J1_1e5", q+".csv"))
				if err != nil {
					t.Fatal(err)
				}
				if err := dbbench.CompareAnswers(got, want); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if strategy == "shuffle" && !strings.Contains(out.String(), "shuffle -> 3 partitions") {
				t.Fatalf("not shuffled:\n%s", out.String())
			}
		})
	}
}

func TestDBBenchJoinUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dbbench", "join"}, "--data PREFIX is required"},
		{[]string{"dbbench", "join", "--data", "x", "--strategy", "hash"}, "--strategy"},
		{[]string{"dbbench", "join", "--data", "x", "--questions", "q6"}, "no join question"},
		{[]string{"dbbench", "join", "--data", filepath.Join(t.TempDir(), "none")}, "no files match"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

// --json: every line is one JSON object, a run line per question and run.
func TestDBBenchJSON(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "g.csv")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"gen", "groupby", "--rows", "5000", "--k", "10", "--out", data}, &out, &errOut); code != 0 {
		t.Fatalf("gen: %d %s", code, errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"dbbench", "groupby", "--data", data, "--questions", "q1,q2", "--runs", "2", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("dbbench --json: %d %s", code, errOut.String())
	}
	runs := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		if obj["event"] == "run" {
			runs++
			if s, ok := obj["seconds"].(float64); !ok || s < 0 || obj["question"] == nil {
				t.Fatalf("run line %v", obj)
			}
		}
	}
	if runs != 4 {
		t.Fatalf("%d run lines, want 4:\n%s", runs, out.String())
	}
}
