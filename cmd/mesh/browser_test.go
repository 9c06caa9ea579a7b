package main

// A headless Chromium, driven through the DevTools protocol (one websocket,
// Runtime.evaluate), loads a node's status page and reads its DOM.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

var devtoolsRe = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// startChromium starts a headless browser in its own process group (all of
// it is killed when the test ends) and returns its DevTools HTTP address.
func startChromium(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir="+t.TempDir(), "about:blank")
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		// SIGTERM lets the browser reap its helpers; then the whole group goes.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	found := make(chan string, 1)
	var log strings.Builder
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			} else if log.Len() < 4096 {
				log.WriteString(sc.Text() + "\n")
			}
		}
		io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	select {
	case ws := <-found:
		u, err := url.Parse(ws)
		if err != nil {
			t.Fatalf("chromium's DevTools address %q: %v", ws, err)
		}
		return u.Host
	case <-exited:
		t.Fatalf("chromium exited before its DevTools listened:\n%s", log.String())
	case <-time.After(30 * time.Second):
		t.Fatal("chromium's DevTools did not listen within 30s")
	}
	return ""
}

// cdpMessage is a DevTools protocol message: a reply (ID) or an event
// (Method).
type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// evaluate opens a new tab of the browser at devtools, loads pageURL in it
// and returns the JSON value of expr evaluated there (a promise is
// awaited).
func evaluate(t *testing.T, devtools, pageURL, expr string, timeout time.Duration) json.RawMessage {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+devtools+"/json/new?about:blank", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	var tab struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tab)
	resp.Body.Close()
	if err != nil || tab.WebSocketDebuggerURL == "" {
		t.Fatalf("open a tab: %v (no debugger URL)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, tab.WebSocketDebuggerURL, nil)
	if err != nil {
		t.Fatalf("connect to the tab: %v", err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	id := 0
	// call sends a command and returns its result; until then it reads
	// events, and returns once it has seen the event named until too.
	call := func(method string, params map[string]any, until string) json.RawMessage {
		t.Helper()
		id++
		if err := conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var result json.RawMessage
		replied, seen := false, until == ""
		for !replied || !seen {
			var m cdpMessage
			if err := conn.ReadJSON(&m); err != nil {
				t.Fatalf("%s: read: %v (replied %v, %s seen %v)", method, err, replied, until, seen)
			}
			switch {
			case m.ID == id && m.Error != nil:
				t.Fatalf("%s: %s", method, m.Error)
			case m.ID == id:
				result, replied = m.Result, true
			case until != "" && m.Method == until:
				seen = true
			}
		}
		return result
	}
	call("Page.enable", nil, "")
	call("Page.navigate", map[string]any{"url": pageURL}, "Page.loadEventFired")
	res := call("Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, "")
	var out struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &out); err != nil || out.ExceptionDetails != nil {
		t.Fatalf("evaluation failed: %v %s", err, out.ExceptionDetails)
	}
	return out.Result.Value
}

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
	bin := findChromium()
	if bin == "" {
		t.Skip("no chromium on PATH (apt-get install chromium): the status page's browser test skips")
	}
	nodes := startMesh(t, 3)
	devtools := startChromium(t, bin)
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
	raw := evaluate(t, devtools, page, pageProbe, 40*time.Second)
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
