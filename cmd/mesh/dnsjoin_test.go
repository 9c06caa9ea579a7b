package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// Nodes given only the first node's host and port (no /p2p/<id>), by IP and
// by DNS name, learn its ID over the secured channel and join; the secret is
// still required.
func TestJoinWithoutPeerID(t *testing.T) {
	first := startNode(t, "n1")
	secret := filepath.Join(first.dir, "secret")
	port := tcpPort(t, first.addr)
	byIP := startNode(t, "n2", "/ip4/127.0.0.1/tcp/"+port, "--secret-file", secret)
	byName := startNode(t, "n3", "/dns4/localhost/tcp/"+port, "--secret-file", secret)
	waitAgreed(t, []*node{first, byIP, byName}, 3, 30*time.Second)

	other := filepath.Join(t.TempDir(), "other-secret")
	writeSecret(t, other)
	code, stdout, stderr := runMesh(t, 60*time.Second, "join", "/dns4/localhost/tcp/"+port, "--secret-file", other,
		"--listen", listenLocal, "--data-dir", t.TempDir(), "--dashboard", "", "--join-timeout", "5s")
	if code == 0 || !strings.Contains(stderr, "/dns4/localhost/tcp/"+port) {
		t.Errorf("join by name with another mesh's secret: exit %d, want non-zero naming the address\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// The StatefulSet pattern: every node is given the first node's name. The
// first, given only its own address, creates the mesh; the others join it;
// each, restarted on its data dir with the same command, rejoins.
func TestEveryNodeGivenTheFirstsName(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	writeSecret(t, secret)
	port := freePort(t)
	firstAddr := "/dns4/localhost/tcp/" + port
	first := startNode(t, "pod-0", firstAddr, "--secret-file", secret, "--listen", "/ip4/127.0.0.1/tcp/"+port)
	if out := first.waitStdout("listening on", 1, 30*time.Second); !strings.Contains(out, "new mesh") {
		t.Fatalf("the first node, given only its own address, did not create a mesh; stdout:\n%s", out)
	}
	second := startNode(t, "pod-1", firstAddr, "--secret-file", secret)
	nodes := []*node{first, second}
	waitAgreed(t, nodes, 2, 30*time.Second)

	// A pod killed and started again with the same command and data dir.
	for _, n := range nodes {
		n.kill()
		args := []string{firstAddr, "--secret-file", secret}
		if n == first {
			args = append(args, "--listen", "/ip4/127.0.0.1/tcp/"+port)
		}
		n.restart(args...)
		if out := n.waitStdout("listening on", 2, 30*time.Second); strings.Count(out, "new mesh") > 1 {
			t.Fatalf("%s created a new mesh when restarted on its data dir; stdout:\n%s", n.name, out)
		}
		waitAgreed(t, nodes, 2, 30*time.Second)
	}
	// All pods down, then started together (a cluster restart; pod-1 on
	// a new port, as a pod gets a new IP): they find each other again.
	for _, n := range nodes {
		n.kill()
		if err := os.Remove(filepath.Join(n.dir, "addr")); err != nil {
			t.Fatal(err)
		}
	}
	first.start(firstAddr, "--secret-file", secret, "--listen", "/ip4/127.0.0.1/tcp/"+port)
	second.start(firstAddr, "--secret-file", secret)
	for _, n := range nodes {
		n.waitAddr(30 * time.Second)
	}
	waitAgreed(t, nodes, 2, 30*time.Second)
	for _, n := range nodes {
		n.signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		n.waitExit(15 * time.Second)
	}
}
