package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// dashboardAddr waits until the node has written <dir>/dashboard-addr.
func (n *node) dashboardAddr(timeout time.Duration) string {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if data, err := os.ReadFile(filepath.Join(n.dir, "dashboard-addr")); err == nil && len(bytes.TrimSpace(data)) > 0 {
			return strings.TrimSpace(string(data))
		}
		if !n.running() || time.Now().After(deadline) {
			n.t.Fatalf("%s wrote no dashboard address within %v (running %v)", n.name, timeout, n.running())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(client *http.Client, url string) (int, []byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// Every `mesh join` process serves its dashboard: healthy nodes answer
// /health, a follower's /api/v1/members shows the leader's view of the
// whole mesh, /metrics parses; SIGTERM removes the address file.
func TestDashboardOfEveryNode(t *testing.T) {
	nodes := startMesh(t, 3)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = "http://" + n.dashboardAddr(30*time.Second)
	}

	deadline := time.Now().Add(30 * time.Second)
	var leader string
	for {
		var problems []string
		leader = ""
		for i, u := range urls {
			code, body, err := httpGet(client, u+"/health")
			if err != nil || code != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
				problems = append(problems, fmt.Sprintf("%s: %d %q %v", nodes[i].name, code, body, err))
			}
		}
		var st struct {
			Leader  string `json:"leader"`
			Stale   bool   `json:"stale"`
			Members []struct {
				ID, State string
				Leader    bool
			} `json:"members"`
		}
		if code, body, err := httpGet(client, urls[0]+"/api/v1/status"); err != nil || code != http.StatusOK || json.Unmarshal(body, &st) != nil {
			problems = append(problems, fmt.Sprintf("status via n1: %d %s %v", code, body, err))
		} else if alive := strings.Count(string(body), `"state": "alive"`); st.Leader == "" || st.Stale || alive != 3 {
			problems = append(problems, fmt.Sprintf("status via n1: leader %q stale %v, %d alive", st.Leader, st.Stale, alive))
		} else {
			leader = st.Leader
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mesh not healthy through its dashboards within 30s: %s", strings.Join(problems, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}

	follower := -1
	for i, n := range nodes {
		if n.id != leader {
			follower = i
			break
		}
	}
	var ms struct {
		Leader  string `json:"leader"`
		Stale   bool   `json:"stale"`
		Members []struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			State  string `json:"state"`
			Leader bool   `json:"leader"`
		} `json:"members"`
	}
	code, body, err := httpGet(client, urls[follower]+"/api/v1/members")
	if err != nil || code != http.StatusOK {
		t.Fatalf("members via follower %s: %d %s %v", nodes[follower].name, code, body, err)
	}
	if err := json.Unmarshal(body, &ms); err != nil {
		t.Fatalf("members: bad JSON %v: %s", err, body)
	}
	if ms.Stale || ms.Leader != leader || len(ms.Members) != 3 {
		t.Fatalf("members via follower %s: stale %v leader %s, %d members: %s", nodes[follower].name, ms.Stale, ms.Leader, len(ms.Members), body)
	}
	for _, n := range nodes {
		found := false
		for _, m := range ms.Members {
			if m.ID == n.id {
				found = true
				if m.Name != n.name || m.State != "alive" || m.Leader != (n.id == leader) {
					t.Errorf("member %+v: want name %s, alive, leader mark %v", m, n.name, n.id == leader)
				}
			}
		}
		if !found {
			t.Errorf("%s missing from the members via a follower", n.name)
		}
	}

	leaders := 0.0
	for i, u := range urls {
		code, body, err := httpGet(client, u+"/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s /metrics: %d %v", nodes[i].name, code, err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s /metrics does not parse: %v", nodes[i].name, err)
		}
		for _, name := range []string{"mesh_raft_is_leader", "mesh_raft_term", "mesh_members", "mesh_store_bytes", "mesh_transfer_bytes_total"} {
			if fams[name] == nil {
				t.Errorf("%s /metrics: no %s", nodes[i].name, name)
			}
		}
		if f := fams["mesh_raft_is_leader"]; f != nil && len(f.Metric) == 1 {
			leaders += f.Metric[0].GetGauge().GetValue()
		}
	}
	if leaders != 1 {
		t.Errorf("mesh_raft_is_leader sums to %v over the nodes, want 1", leaders)
	}

	n := nodes[follower]
	n.signal(syscall.SIGTERM)
	if code := n.waitExit(15 * time.Second); code != 0 {
		t.Errorf("%s exited %d after SIGTERM", n.name, code)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "dashboard-addr")); !os.IsNotExist(err) {
		t.Errorf("dashboard-addr left behind after a clean exit: %v", err)
	}
}
