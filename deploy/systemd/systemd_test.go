// Package systemd holds the systemd unit mesh.service and its environment
// file mesh.env, and their checks: systemd-analyze verify (when installed;
// any complaint about the unit fails), the settings a graceful leave needs,
// and every MESH_* setting against the real mesh join's flags.
package systemd

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcompute/mesh/deploy/internal/meshbin"
)

var (
	buildOnce sync.Once
	bin       string
	buildErr  error
)

// meshBinary builds the mesh command once for this package's tests.
func meshBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mesh-systemd-test-*")
		if err != nil {
			buildErr = err
			return
		}
		bin, buildErr = meshbin.Build(dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin != "" {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// unitKeys reads a unit file's Key=Value lines (the last value of a key
// wins, as in systemd for most keys).
func unitKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: not Key=Value: %q", path, l)
		}
		keys[k] = v
	}
	return keys
}

func TestUnit(t *testing.T) {
	keys := unitKeys(t, "mesh.service")
	for k, want := range map[string]string{
		"KillSignal":               "SIGTERM",
		"Restart":                  "on-failure",
		"EnvironmentFile":          "-/etc/mesh/mesh.env",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"DynamicUser":              "yes",
		"StateDirectory":           "mesh",
		"RestartPreventExitStatus": "2",
	} {
		if keys[k] != want {
			t.Errorf("%s=%q, want %q", k, keys[k], want)
		}
	}
	// The graceful leave takes up to 5 s (then the node closes): the stop
	// timeout must leave room for it.
	if d, err := time.ParseDuration(keys["TimeoutStopSec"] + "s"); err != nil || d < 35*time.Second {
		t.Errorf("TimeoutStopSec=%q: want at least 35 (seconds): the drain (--drain-timeout, 30 s) and the leave", keys["TimeoutStopSec"])
	}
	if !strings.Contains(keys["ExecStart"], " join ") || !strings.Contains(keys["ExecStart"], "--secret-file ${CREDENTIALS_DIRECTORY}/secret") {
		t.Errorf("ExecStart=%q: want mesh join with the secret credential", keys["ExecStart"])
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	// verify wants the ExecStart binary to exist: point it at a real mesh.
	bin := meshBinary(t)
	data, err := os.ReadFile("mesh.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "mesh.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/mesh", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, sa, "verify", unit).CombinedOutput()
	// verify exits 0 on unknown keys and bad values too, only saying so:
	// any line about this unit fails the test.
	var complaints []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, unit) || strings.Contains(l, "mesh.service") {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Errorf("systemd-analyze verify mesh.service: %v\n%s", err, strings.Join(complaints, "\n"))
	}
}

// Every MESH_* setting in mesh.env (commented out or not) is a flag of mesh
// join; PEERS is the only other variable.
func TestEnvFile(t *testing.T) {
	help, err := exec.Command(meshBinary(t), "join", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("mesh join --help: %v\n%s", err, help)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z-]*)`).FindAllSubmatch(help, -1) {
		flags[string(m[1])] = true
	}
	data, err := os.ReadFile("mesh.env")
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`^#?\s*([A-Z_][A-Z0-9_]*)=`)
	seen := 0
	for _, l := range strings.Split(string(data), "\n") {
		m := setting.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		seen++
		name, ok := strings.CutPrefix(m[1], "MESH_")
		switch {
		case m[1] == "PEERS":
		case !ok:
			t.Errorf("mesh.env sets %s: only PEERS and MESH_* are read", m[1])
		case !flags[strings.ToLower(strings.ReplaceAll(name, "_", "-"))]:
			t.Errorf("mesh.env sets %s: mesh join has no --%s", m[1], strings.ToLower(strings.ReplaceAll(name, "_", "-")))
		}
	}
	if seen < 3 {
		t.Errorf("mesh.env: only %d settings found", seen)
	}
}
