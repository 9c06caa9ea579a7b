package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
		})
	}
}
