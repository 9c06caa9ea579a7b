package futures

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A performance report of a real computation: every task of it is a box
// of the task stream, its group is in the table, the workers' memory is
// drawn, nothing is loaded from the network, and fn's error comes back
// with the file written anyway.
func TestPerformanceReport(t *testing.T) {
	_, c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "report.html")
	if p := os.Getenv("MESH_REPORT_OUT"); p != "" {
		path = p
	}
	const n = 40
	err := c.PerformanceReport(ctx, path, func(ctx context.Context) error {
		args := make([]any, n)
		for i := range args {
			args[i] = 30 + i%5
		}
		fs, err := c.Map(ctx, "test.sleep", args, Pure(false))
		if err != nil {
			return err
		}
		_, err = c.Gather(ctx, fs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	html := string(data)
	if got := strings.Count(html, `<g class="task">`); got != n {
		t.Errorf("%d task boxes, want %d", got, n)
	}
	for _, want := range []string{"test.sleep", `<polyline class="mem"`, "Task groups", "Workers and transfers"} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Count(html, "#0</text>") != 3 {
		t.Errorf("want a row per worker thread of 3 workers:\n%s", html[:min(len(html), 3000)])
	}
	if strings.Contains(html, "ZgotmplZ") {
		t.Error("html/template rejected a value of the report (ZgotmplZ)")
	}
	for _, ext := range []string{`src="http`, `href="http`, "<script src", "<link "} {
		if strings.Contains(html, ext) {
			t.Errorf("the report loads something from outside (%q): it must be self-contained", ext)
		}
	}

	// fn's error is returned, and the report still written.
	path2 := filepath.Join(t.TempDir(), "failed.html")
	boom := errors.New("boom")
	if err := c.PerformanceReport(ctx, path2, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want fn's", err)
	}
	if _, err := os.Stat(path2); err != nil {
		t.Fatalf("no report after a failed fn: %v", err)
	}
	// An unwritable path is an error naming it.
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "r.html")
	if err := c.PerformanceReport(ctx, bad, func(context.Context) error { return nil }); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err = %v, want one naming %s", err, bad)
	}
}
