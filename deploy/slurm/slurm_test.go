// Package slurm holds the Slurm batch script mesh.sbatch and its checks:
// bash -n and shellcheck (when installed) of the script and of the per-node
// script inside it, and a run of the whole script on this machine with the
// real mesh binary, where stand-ins for srun and scontrol start the tasks as
// local processes (as Slurm would start several tasks on one node).
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshcompute/mesh/deploy/internal/meshbin"
)

const script = "mesh.sbatch"

// nodeScript is the per-task script the batch script hands to srun.
func nodeScript(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	const open = "node_script='"
	i := strings.Index(s, open)
	if i < 0 {
		t.Fatalf("no %s...' in %s", open, script)
	}
	body := s[i+len(open):]
	j := strings.Index(body, "'\n")
	if j < 0 {
		t.Fatal("node_script is not closed")
	}
	return "#!/usr/bin/env bash\n" + body[:j]
}

func TestScriptLint(t *testing.T) {
	node := filepath.Join(t.TempDir(), "node.sh")
	if err := os.WriteFile(node, []byte(nodeScript(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{script, node} {
		if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", f, err, out)
		}
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed (apt-get install shellcheck): only bash -n checked")
	}
	for _, f := range []string{script, node} {
		if out, err := exec.Command(sc, "-s", "bash", f).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", f, err, out)
		}
	}
}

const fakeSrun = `#!/usr/bin/env bash
# Stand-in for srun: runs FAKE_SRUN_TASKS copies of the command as local tasks
# (SLURM_PROCID and SLURM_LOCALID 0..n-1, as several tasks on one node), waits
# for them and exits with the first failure.
while [ "$#" -gt 0 ] && [[ $1 == --* ]]; do shift; done
pids=()
for i in $(seq 0 $((FAKE_SRUN_TASKS - 1))); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NODEID=0 "$@" &
  pids+=($!)
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit "$rc"
`

const fakeScontrol = `#!/usr/bin/env bash
# Stand-in for scontrol show hostnames: every task runs on this host.
echo localhost
`

// freeJobID picks a job ID whose ports (mesh 20000+20*(id%1000) and the
// dashboards 10 above, 3 tasks each) are free here.
func freeJobID(t *testing.T) int {
	t.Helper()
	for range 50 {
		id := 1 + rand.IntN(999)
		port := 20000 + 20*id
		free := true
		for _, p := range []int{port, port + 1, port + 2, port + 10, port + 11, port + 12} {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return id
		}
	}
	t.Fatal("no job ID with free ports")
	return 0
}

// The whole script: 3 nodes form a mesh, the command sees it through
// MESH_PEER and MESH_SECRET_FILE (here: mesh status), its exit status is the
// job's, every node leaves gracefully, and nothing is left behind.
func TestScriptRunsAMesh(t *testing.T) {
	dir := t.TempDir()
	bin, err := meshbin.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	pathDir := filepath.Join(dir, "path")
	if err := os.Mkdir(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"srun": fakeSrun, "scontrol": fakeScontrol} {
		if err := os.WriteFile(filepath.Join(pathDir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	jobID := freeJobID(t)
	submit := filepath.Join(dir, "submit")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{submit, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	jobDir := filepath.Join(submit, fmt.Sprintf("mesh-%d", jobID))
	statusFile := filepath.Join(dir, "status.json")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	abs, _ := filepath.Abs(script)
	cmd := exec.CommandContext(ctx, "bash", abs, "sh", "-c", `mesh status --json > "$1" && exit 3`, "sh", statusFile)
	cmd.Dir = submit
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MESH_") && !strings.HasPrefix(kv, "SLURM_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"PATH="+pathDir+":"+filepath.Dir(bin)+":"+os.Getenv("PATH"),
		fmt.Sprintf("SLURM_JOB_ID=%d", jobID), "SLURM_JOB_NUM_NODES=3", "SLURM_JOB_NODELIST=localhost",
		"SLURM_SUBMIT_DIR="+submit, "TMPDIR="+tmp, "FAKE_SRUN_TASKS=3", "MESH_READY_TIMEOUT=90",
		"MESH_JOIN_ARGS=--log-level info --threads 1",
	)
	// Its own process group, so that anything left behind can be found and
	// killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL)
	err = cmd.Wait()
	logs := func() string {
		var b strings.Builder
		fmt.Fprintf(&b, "script output:\n%s", out.String())
		files, _ := filepath.Glob(filepath.Join(jobDir, "node-*.log"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			fmt.Fprintf(&b, "---- %s ----\n%s", filepath.Base(f), data)
		}
		return b.String()
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("the job exited %d (%v), want the command's 3\n%s", code, err, logs())
	}
	status, err := os.ReadFile(statusFile)
	if err != nil {
		t.Fatalf("the command's mesh status left no output: %v\n%s", err, logs())
	}
	if n := strings.Count(string(status), `"state": "alive"`); n != 3 {
		t.Errorf("the command saw %d alive members, want 3:\n%s\n%s", n, status, logs())
	}
	for i := range 3 {
		log, _ := os.ReadFile(filepath.Join(jobDir, fmt.Sprintf("node-%d.log", i)))
		want := "joined mesh"
		if i == 0 {
			want = "new mesh"
		}
		if !strings.Contains(string(log), want) || !strings.Contains(string(log), "\nleft\n") {
			t.Errorf("node %d's log lacks %q or the graceful leave (\"left\"):\n%s", i, want, log)
		}
		if strings.Contains(string(log), "graceful leave failed") {
			t.Errorf("node %d's graceful leave failed:\n%s", i, log)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "mesh-*")); len(left) > 0 {
		t.Errorf("data dirs left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(jobDir, "secret")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the secret was not removed from the job dir (%v)", err)
	}
	// Nothing of the job still runs.
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("processes of the job still run after it ended (kill -0 -%d: %v)", pgid, err)
	}
}
