package dashboard

// A headless Chromium (skipped without one) loads the pages of a follower
// of an in-process 3-node mesh while a workload runs, and reads their DOM.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/futures"
	"github.com/meshcompute/mesh/internal/cdptest"
)

const (
	slowFunc  = "dashtest.slow"
	mergeFunc = "dashtest.merge"
)

func init() {
	futures.Register(slowFunc, func(x int) ([]byte, error) {
		time.Sleep(15 * time.Millisecond)
		return make([]byte, 512+x%512), nil // inputs worth fetching
	})
	futures.Register(mergeFunc, func(a, b []byte) (int, error) {
		time.Sleep(5 * time.Millisecond)
		return len(a) + len(b), nil
	})
}

// keepBusy runs batches of slow tasks and merges of pairs of them until
// ctx ends; it returns when the last batch has.
func keepBusy(ctx context.Context, t *testing.T, m *testMesh) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	cl, err := futures.Connect(ctx, m.nodes[0].Addrs()[0].String(), futures.WithSecret(m.secret))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for batch := 0; ctx.Err() == nil; batch++ {
			args := make([]any, 48)
			for i := range args {
				args[i] = batch*1000 + i
			}
			fs, err := cl.Map(ctx, slowFunc, args)
			if err != nil {
				return
			}
			var merged []*futures.Future
			for i := 0; i+1 < len(fs); i += 2 {
				f, err := cl.Submit(ctx, mergeFunc, fs[i], fs[i+1])
				if err != nil {
					return
				}
				merged = append(merged, f)
			}
			if _, err := cl.Gather(ctx, merged); err != nil {
				return
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		cl.Close()
	}
}

// statusProbe waits (up to 30 s) until the status page shows three alive
// members, a live connection, boxes in the task stream and task groups,
// takes a reading of the groups' progress, then waits for a reading that
// differs (the bars move), and reports what the DOM shows.
const statusProbe = `new Promise((resolve) => {
  const deadline = Date.now() + 30000;
  const reading = () => [...document.querySelectorAll("#groups tr.group")].map((r) =>
    [r.dataset.group, r.dataset.done, r.dataset.processing, r.dataset.waiting, r.dataset.total].join(":")).join(" ");
  let first = "";
  const check = () => {
    const rows = [...document.querySelectorAll("#members tbody tr.member")];
    const canvas = document.querySelector("#task-stream");
    const ready = rows.length === 3 && rows.every((r) => r.dataset.state === "alive") &&
      document.querySelector("#conn").classList.contains("on") && Number(canvas.dataset.boxes || 0) > 0 &&
      document.querySelectorAll("#groups tr.group").length > 0;
    if (ready && !first) first = reading();
    const moved = first && reading() !== first;
    if (!moved && Date.now() < deadline) { setTimeout(check, 100); return; }
    resolve({
      members: rows.map((r) => r.dataset.id),
      cpu: rows.map((r) => r.querySelector(".cpu").textContent),
      conn: document.querySelector("#conn").textContent,
      boxes: Number(canvas.dataset.boxes || 0),
      streamRows: Number(canvas.dataset.rows || 0),
      groups: [...document.querySelectorAll("#groups tr.group")].map((r) => r.dataset.group),
      first, second: reading(),
      leaderChanges: document.querySelectorAll("#leader-changes li.event").length,
      commit: document.querySelector("#commit").textContent,
    });
  };
  check();
})`

// workersProbe waits for the workers table, then sorts it by name (it is
// already: descending), and by threads.
const workersProbe = `new Promise((resolve) => {
  const deadline = Date.now() + 20000;
  const names = () => [...document.querySelectorAll("#workers tbody tr.worker")].map((r) => r.dataset.name);
  const check = () => {
    if (names().length !== 3 && Date.now() < deadline) { setTimeout(check, 50); return; }
    const before = names();
    const th = document.querySelector('#workers th[data-key="name"]');
    th.click();
    const after = names();
    const sortedBefore = th.getAttribute("aria-sort");
    document.querySelector('#workers th[data-key="threads"]').click();
    resolve({ before, after, nameSort: sortedBefore,
      threadsSort: document.querySelector('#workers th[data-key="threads"]').getAttribute("aria-sort") });
  };
  check();
})`

// pageProbe waits until sel matches at least one element, and counts them.
func pageProbe(sel string) string {
	return fmt.Sprintf(`new Promise((resolve) => {
  const deadline = Date.now() + 20000;
  const check = () => {
    const n = document.querySelectorAll(%q).length;
    if (n === 0 && Date.now() < deadline) { setTimeout(check, 100); return; }
    resolve(n);
  };
  check();
})`, sel)
}

// The status page of a 3-node mesh, loaded from a follower while a
// workload runs, shows the three workers, progress that moves, and a task
// stream with boxes; the workers table sorts; the graph and logs pages
// draw. A screenshot of the status page goes to $MESH_SCREENSHOT_DIR (or
// the test's temp dir); with MESH_UPDATE_SCREENSHOT=1 also to
// docs/dashboard.png.
func TestPagesInChromium(t *testing.T) {
	bin := cdptest.FindChromium()
	if bin == "" {
		t.Skip("no chromium on PATH (apt-get install chromium): the dashboard's browser test skips")
	}
	// A memory limit, so that the page shows each store's use of it.
	m := startTestMeshWith(t, 3, false, func(c *actors.NodeConfig) { c.MemoryLimit = 1 << 20 })
	follower := (m.leader() + 1) % 3
	stop := keepBusy(context.Background(), t, m)
	defer stop()
	browser := cdptest.Start(t, bin)
	base := m.url(follower, "/")

	tab := browser.Open(base, 1280, 1000, 60*time.Second)
	var st struct {
		Members, CPU, Groups []string
		Conn                 string
		Boxes, StreamRows    int
		First, Second        string
		LeaderChanges        int
		Commit               string
	}
	tab.EvalInto(statusProbe, &st)
	for _, nd := range m.nodes {
		if !slices.Contains(st.Members, nd.ID().String()) {
			t.Errorf("node %s not on the status page: %v", nd.ID(), st.Members)
		}
	}
	if len(st.Members) != 3 || st.Conn != "live" || st.Boxes == 0 || st.StreamRows != 6 {
		t.Errorf("status page: %d members, connection %q, %d task-stream boxes in %d rows; want 3, live, > 0, 6 (3 workers × 2 threads)",
			len(st.Members), st.Conn, st.Boxes, st.StreamRows)
	}
	if st.First == "" || st.First == st.Second {
		t.Errorf("progress did not move while the workload ran: first reading %q, second %q", st.First, st.Second)
	}
	if !slices.Contains(st.Groups, slowFunc) {
		t.Errorf("groups shown %v, want %s", st.Groups, slowFunc)
	}
	if st.LeaderChanges == 0 || st.Commit == "" || st.Commit == "—" {
		t.Errorf("Raft section: %d leader changes, commit index %q", st.LeaderChanges, st.Commit)
	}
	update := os.Getenv("MESH_UPDATE_SCREENSHOT") == "1"
	if update {
		// Not a check: let the task stream fill for the documentation's picture.
		tab.Eval(`new Promise((resolve) => setTimeout(resolve, 8000))`)
	}
	png := tab.Screenshot()
	dir := os.Getenv("MESH_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	save(t, dir, "dashboard-status.png", png)
	if update {
		if err := os.WriteFile(filepath.Join("..", "docs", "dashboard.png"), png, 0o644); err != nil {
			t.Fatalf("update docs/dashboard.png: %v", err)
		}
		t.Logf("updated docs/dashboard.png")
	}

	var ws struct {
		Before, After         []string
		NameSort, ThreadsSort string
	}
	browser.Open(base+"workers", 1280, 800, 30*time.Second).EvalInto(workersProbe, &ws)
	sorted := slices.Sorted(slices.Values(ws.Before))
	if len(ws.Before) != 3 || !slices.Equal(ws.Before, sorted) {
		t.Errorf("workers table at first %v: want the 3 workers by name", ws.Before)
	}
	slices.Reverse(sorted)
	if !slices.Equal(ws.After, sorted) || ws.NameSort != "descending" || ws.ThreadsSort != "ascending" {
		t.Errorf("after a click on Name: %v (%s), want %v (descending); then Threads: %s, want ascending", ws.After, ws.NameSort, sorted, ws.ThreadsSort)
	}

	var nodes int
	gtab := browser.Open(base+"graph", 1280, 800, 30*time.Second)
	gtab.EvalInto(pageProbe("#graph .task, #graph .group-node"), &nodes)
	if nodes == 0 {
		t.Errorf("graph page drew no task and no group")
	}
	save(t, dir, "dashboard-graph.png", gtab.Screenshot())
	// Past its limit the page draws one box per task group.
	var groups int
	gtab = browser.Open(base+"graph?limit=10", 1280, 800, 30*time.Second)
	gtab.EvalInto(pageProbe("#graph .group-node"), &groups)
	if groups != 2 {
		t.Errorf("graph page past its limit drew %d groups, want 2 (%s, %s)", groups, slowFunc, mergeFunc)
	}
	save(t, dir, "dashboard-graph-groups.png", gtab.Screenshot())
	var events int
	ltab := browser.Open(base+"logs", 1280, 800, 30*time.Second)
	ltab.EvalInto(pageProbe(`#logs tr.event[data-kind="joined"]`), &events)
	if events != 3 {
		t.Errorf("logs page shows %d joined events, want 3 (one per node)", events)
	}
	save(t, dir, "dashboard-logs.png", ltab.Screenshot())
	if t.Failed() {
		t.Logf("pages of %s", strings.TrimSuffix(base, "/"))
	}
}

// save writes a screenshot to dir and logs its path.
func save(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("screenshot (%d bytes): %s", len(png), path)
}
