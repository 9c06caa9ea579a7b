package cmd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCollatz(t *testing.T) {
	for n, want := range map[int]int{1: 0, 2: 1, 3: 7, 27: 111, 97: 118, 871: 178} {
		if got := collatzSteps(n); got != want {
			t.Errorf("collatzSteps(%d) = %d, want %d", n, got, want)
		}
	}
	if got := longestChain(1, 1000); got != (Chain{Start: 871, Steps: 178}) {
		t.Errorf("longestChain(1, 1000) = %+v", got)
	}
}

func TestRunDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"run", "--nodes", "2", "--threads", "2", "--tasks", "300"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"300 tasks in", "matches a local computation",
		"sum of squares = 9045050 = n(n+1)(2n+1)/6, checked; 599 tasks",
		"best start below 1000000: 837799 with 524 steps",
		"leader: 12D3KooW", "node1", "node2",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunKeepTellsHowToConnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--keep", "--demo=false", "--nodes", "2", "--dir", t.TempDir(), "--dashboard", "127.0.0.1:0"}, &out, &errOut)
	}()
	re := regexp.MustCompile(`status --peer (\S+) --secret-file (\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	var m []string
	for m == nil {
		select {
		case code := <-done:
			t.Fatalf("run --keep ended (exit %d) before it was stopped:\n%s\n%s", code, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection instructions within 30s:\n%s", out.String())
		}
		m = re.FindStringSubmatch(out.String())
	}
	var sOut, sErr bytes.Buffer
	if code := run(context.Background(), []string{"status", "--peer", m[1], "--secret-file", m[2]}, &sOut, &sErr); code != exitOK {
		t.Fatalf("status: exit %d: %s", code, sErr.String())
	}
	if !strings.Contains(sOut.String(), "node2") {
		t.Fatalf("status:\n%s", sOut.String())
	}
	dm := regexp.MustCompile(`dashboard: +(http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(out.String())
	if dm == nil {
		t.Fatalf("no dashboard address in the instructions:\n%s", out.String())
	}
	resp, err := http.Get(dm[1] + "api/v1/members")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name": "node2"`) {
		t.Fatalf("dashboard members: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("run --keep: exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run --keep did not stop when its context ended")
	}
}
