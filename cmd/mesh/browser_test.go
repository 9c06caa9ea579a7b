package main

// A headless Chromium, driven through the DevTools protocol (one websocket,
// Runtime.evaluate), loads a node's status page and reads its DOM.

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/meshcompute/mesh/internal/cdptest"
)

// pageProbe waits in the page until it shows three alive members and has
// rendered at least three times (the first fetch and two live events), or
// 20 s have passed, then reports what the DOM shows.
const pageProbe = `new Promise((resolve) => {
  const deadline = Date.now() + 20000;
  const renders = new Set();
  const check = () => {
    if (document.body.dataset.updated) renders.add(document.body.dataset.updated);
    const rows = [...document.querySelectorAll("#members tbody tr.member")];
    const done = rows.length === 3 && rows.every((r) => r.dataset.state === "alive") && renders.size >= 3 &&
      document.querySelector("#conn").classList.contains("on");
    if (!done && Date.now() < deadline) { setTimeout(check, 50); return; }
    resolve({
      rows: rows.map((r) => ({id: r.dataset.id, state: r.dataset.state, role: r.dataset.role, name: r.cells[0].textContent})),
      leaderMarks: document.querySelectorAll("#members .leader-mark").length,
      renders: renders.size,
      conn: document.querySelector("#conn").textContent,
      term: document.querySelector("#term").textContent,
      taskStates: document.querySelectorAll("#tasks tr.task-state").length,
    });
  };
  check();
})`

// The status page of a 3-node mesh, loaded from a follower in a real
// browser, shows the three workers and keeps updating.
func TestStatusPageInChromium(t *testing.T) {
	bin := cdptest.FindChromium()
	if bin == "" {
		t.Skip("no chromium on PATH (apt-get install chromium): the status page's browser test skips")
	}
	nodes := startMesh(t, 3)
	browser := cdptest.Start(t, bin)
	page := "http://" + nodes[1].dashboardAddr(30*time.Second) + "/"

	var got struct {
		Rows []struct {
			ID, State, Role, Name string
		}
		LeaderMarks int
		Renders     int
		Conn        string
		Term        string
		TaskStates  int
	}
	raw := browser.Open(page, 0, 0, 40*time.Second).Eval(pageProbe)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("probe result %s: %v", raw, err)
	}
	var ids []string
	for _, r := range got.Rows {
		ids = append(ids, r.ID)
		if r.State != "alive" || r.Role != "voter" {
			t.Errorf("row %+v: want an alive voter", r)
		}
	}
	for _, n := range nodes {
		if !slices.Contains(ids, n.id) {
			t.Errorf("%s (%s) not on the page; rows: %+v", n.name, short(n.id), got.Rows)
		}
	}
	if len(got.Rows) != 3 || got.LeaderMarks != 1 || got.Renders < 3 || got.Conn != "live" || got.TaskStates != 6 {
		t.Errorf("page shows %d rows, %d leader marks, rendered %d times, connection %q, %d task states; want 3, 1, >= 3, live, 6",
			len(got.Rows), got.LeaderMarks, got.Renders, got.Conn, got.TaskStates)
	}
	if term, err := strconv.Atoi(got.Term); err != nil || term < 1 {
		t.Errorf("term shown %q, want a positive number", got.Term)
	}
}
