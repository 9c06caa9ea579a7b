// Package cdptest drives a headless Chromium for tests, through the
// DevTools protocol (one websocket per tab): it loads pages, evaluates
// JavaScript in them and takes screenshots. Tests skip when no Chromium
// is installed (FindChromium returns "").
package cdptest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// FindChromium returns the path of a Chromium or Chrome binary, or "".
func FindChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

var devtoolsRe = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Browser is a headless Chromium that the test owns.
type Browser struct {
	t        testing.TB
	devtools string // host:port of its DevTools HTTP endpoint
}

// Start starts a headless browser in its own process group (all of it is
// killed when the test ends) with the environment less MESH_ variables.
func Start(t testing.TB, bin string) *Browser {
	t.Helper()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--hide-scrollbars", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir="+t.TempDir(), "about:blank")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MESH_") })
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
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	select {
	case ws := <-found:
		u, err := url.Parse(ws)
		if err != nil {
			t.Fatalf("chromium's DevTools address %q: %v", ws, err)
		}
		return &Browser{t: t, devtools: u.Host}
	case <-exited:
		t.Fatalf("chromium exited before its DevTools listened:\n%s", log.String())
	case <-time.After(30 * time.Second):
		t.Fatal("chromium's DevTools did not listen within 30s")
	}
	return nil
}

// message is a DevTools protocol message: a reply (ID) or an event
// (Method).
type message struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// Tab is one browser tab; every call on it fails the test on error and
// gives up past the tab's deadline.
type Tab struct {
	t    testing.TB
	conn *websocket.Conn
	id   int
}

// Open opens a new tab of width×height CSS pixels (0: the browser's
// default) and loads pageURL in it; every call on the tab must be done
// within timeout. The tab closes when the test ends.
func (b *Browser) Open(pageURL string, width, height int, timeout time.Duration) *Tab {
	t := b.t
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+b.devtools+"/json/new?about:blank", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	var info struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || info.WebSocketDebuggerURL == "" {
		t.Fatalf("open a tab: %v (no debugger URL)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, info.WebSocketDebuggerURL, nil)
	if err != nil {
		t.Fatalf("connect to the tab: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	tab := &Tab{t: t, conn: conn}
	tab.Call("Page.enable", nil, "")
	if width > 0 && height > 0 {
		tab.Call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, "")
	}
	tab.Call("Page.navigate", map[string]any{"url": pageURL}, "Page.loadEventFired")
	return tab
}

// Call sends a command and returns its result; until then it reads
// events, and returns once it has seen the event named until too.
func (tab *Tab) Call(method string, params map[string]any, until string) json.RawMessage {
	t := tab.t
	t.Helper()
	tab.id++
	if err := tab.conn.WriteJSON(map[string]any{"id": tab.id, "method": method, "params": params}); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	var result json.RawMessage
	replied, seen := false, until == ""
	for !replied || !seen {
		var m message
		if err := tab.conn.ReadJSON(&m); err != nil {
			t.Fatalf("%s: read: %v (replied %v, %s seen %v)", method, err, replied, until, seen)
		}
		switch {
		case m.ID == tab.id && m.Error != nil:
			t.Fatalf("%s: %s", method, m.Error)
		case m.ID == tab.id:
			result, replied = m.Result, true
		case until != "" && m.Method == until:
			seen = true
		}
	}
	return result
}

// Eval returns the JSON value of expr evaluated in the page (a promise is
// awaited).
func (tab *Tab) Eval(expr string) json.RawMessage {
	t := tab.t
	t.Helper()
	res := tab.Call("Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, "")
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

// EvalInto evaluates expr and decodes its value into out.
func (tab *Tab) EvalInto(expr string, out any) {
	tab.t.Helper()
	raw := tab.Eval(expr)
	if err := json.Unmarshal(raw, out); err != nil {
		tab.t.Fatalf("result %s: %v", raw, err)
	}
}

// Screenshot returns a PNG of the whole page (beyond the viewport).
func (tab *Tab) Screenshot() []byte {
	t := tab.t
	t.Helper()
	res := tab.Call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, "")
	var out struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	png, err := base64.StdEncoding.DecodeString(out.Data)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}
