package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGen(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		files []string
		err   string
	}{
		{"groupby", []string{"gen", "groupby", "--rows", "1e3", "--k", "10", "--nas", "5", "--out", filepath.Join(dir, "g.csv")}, 0, []string{"g.csv"}, ""},
		{"join", []string{"gen", "join", "--rows", "2000", "--out", filepath.Join(dir, "J")}, 0, []string{"J_NA_0_0.csv", "J_small.csv", "J_medium.csv", "J_big.csv"}, ""},
		{"groupby json", []string{"gen", "groupby", "--rows", "100", "--out", filepath.Join(dir, "gj.csv"), "--json"}, 0, []string{"gj.csv"}, ""},
		{"join json", []string{"gen", "join", "--json", "--rows", "200", "--out", filepath.Join(dir, "JJ")}, 0, []string{"JJ_NA_0_0.csv", "JJ_small.csv", "JJ_medium.csv", "JJ_big.csv"}, ""},
		{"jsonl json", []string{"gen", "jsonl", "--rows", "50", "--out", filepath.Join(dir, "b.jsonl"), "--text-out", filepath.Join(dir, "b.txt"), "--json"}, 0, []string{"b.jsonl", "b.txt"}, ""},
		{"no out", []string{"gen", "groupby", "--rows", "10"}, 2, nil, "--out"},
		{"bad rows", []string{"gen", "groupby", "--rows", "ten", "--out", filepath.Join(dir, "x.csv")}, 2, nil, "whole number"},
		{"bad nas", []string{"gen", "groupby", "--rows", "10", "--nas", "150", "--out", filepath.Join(dir, "y.csv")}, 2, nil, "percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.err) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errOut.String(), tc.err)
			}
			for _, f := range tc.files {
				data, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil || bytes.Count(data, []byte("\n")) < 2 {
					t.Fatalf("%s: %d bytes, %v", f, len(data), err)
				}
			}
			if !slices.Contains(tc.args, "--json") {
				if tc.code == 0 && !strings.HasPrefix(out.String(), "wrote ") {
					t.Fatalf("stdout %q, want a line per file starting \"wrote \"", out.String())
				}
				return
			}
			var got struct {
				Event string
				Files []struct {
					Path  string
					Bytes int64
				}
				Rows    int
				Seconds float64
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Event != "wrote" || got.Rows <= 0 || len(got.Files) != len(tc.files) {
				t.Fatalf("--json: %q (%v), want one object naming %d files", out.String(), err, len(tc.files))
			}
			for i, f := range got.Files {
				st, err := os.Stat(filepath.Join(dir, tc.files[i]))
				if err != nil || f.Path != filepath.Join(dir, tc.files[i]) || f.Bytes != st.Size() {
					t.Fatalf("--json file %d: %+v, want %s of its size (%v)", i, f, tc.files[i], err)
				}
			}
		})
	}
}
