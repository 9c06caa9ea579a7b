package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshcompute/mesh/mesh"
)

func TestFlagsFallBackToEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		wantErr  string
		wantNone string
	}{
		{name: "env value is used", env: map[string]string{"MESH_VOTERS": "0"}, args: []string{"join"}, code: exitUsage, wantErr: "--voters 0"},
		{name: "flag beats env", env: map[string]string{"MESH_VOTERS": "0", "MESH_LISTEN": "garbage"}, args: []string{"join", "--voters", "3", "--listen", "/ip4/127.0.0.1/udp/1"}, code: exitUsage, wantErr: "needs a /tcp/", wantNone: "--voters"},
		{name: "bad env value names the variable", env: map[string]string{"MESH_DEAD_AFTER": "soon"}, args: []string{"join"}, code: exitUsage, wantErr: "MESH_DEAD_AFTER"},
		{name: "env listen is parsed", env: map[string]string{"MESH_LISTEN": "not-a-multiaddr"}, args: []string{"join"}, code: exitUsage, wantErr: "not-a-multiaddr"},
		{name: "env chaos switch", env: map[string]string{"MESH_CHAOS": "1", "MESH_CHAOS_LISTEN": "0.0.0.0:0"}, args: []string{"join"}, code: exitUsage, wantErr: "must be a loopback address"},
		{name: "env dashboard address is used", env: map[string]string{"MESH_DASHBOARD": "127.0.0.1:99999"}, args: []string{"join"}, code: exitError, wantErr: "--dashboard 127.0.0.1:99999"},
		{name: "chaos listen is parsed", args: []string{"join", "--chaos", "--chaos-listen", "127.0.0.1"}, code: exitUsage, wantErr: "--chaos-listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MESH_DATA_DIR", t.TempDir())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Fatalf("stderr %q does not mention %q", errOut.String(), tc.wantErr)
			}
			if tc.wantNone != "" && strings.Contains(errOut.String(), tc.wantNone) {
				t.Fatalf("stderr %q mentions %q", errOut.String(), tc.wantNone)
			}
		})
	}
}

func TestResolveSecret(t *testing.T) {
	s1, _ := mesh.NewSecret()
	s2, _ := mesh.NewSecret()
	write := func(t *testing.T, path string, s mesh.Secret) string {
		t.Helper()
		if err := mesh.WriteSecretFile(path, s); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("new mesh writes a 0600 secret", func(t *testing.T) {
		dir := t.TempDir()
		s, created, err := resolveSecret(dir, "", false)
		if err != nil || !created {
			t.Fatalf("created=%v err=%v", created, err)
		}
		fi, err := os.Stat(filepath.Join(dir, mesh.SecretFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("secret file: %v %v", fi, err)
		}
		again, created, err := resolveSecret(dir, "", false)
		if err != nil || created || !bytes.Equal(again, s) {
			t.Fatalf("restart: created=%v err=%v same=%v", created, err, bytes.Equal(again, s))
		}
	})
	t.Run("joining without a secret is refused", func(t *testing.T) {
		_, _, err := resolveSecret(t.TempDir(), "", true)
		if err == nil || !strings.Contains(err.Error(), "--secret-file") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("secret file is copied into the data dir", func(t *testing.T) {
		dir := t.TempDir()
		src := write(t, filepath.Join(t.TempDir(), "s"), s1)
		s, _, err := resolveSecret(dir, src, true)
		if err != nil || !bytes.Equal(s, s1) {
			t.Fatal(err)
		}
		own, err := mesh.ReadSecretFile(filepath.Join(dir, mesh.SecretFile))
		if err != nil || !bytes.Equal(own, s1) {
			t.Fatalf("copy: %v", err)
		}
	})
	t.Run("a data dir of another mesh is refused", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, mesh.SecretFile), s1)
		src := write(t, filepath.Join(t.TempDir(), "s"), s2)
		_, _, err := resolveSecret(dir, src, true)
		if err == nil || !strings.Contains(err.Error(), "another mesh") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("missing and malformed secret files", func(t *testing.T) {
		_, _, err := resolveSecret(t.TempDir(), filepath.Join(t.TempDir(), "nope"), true)
		if !errors.Is(err, mesh.ErrNoSecret) {
			t.Fatalf("missing: %v", err)
		}
		bad := filepath.Join(t.TempDir(), "bad")
		os.WriteFile(bad, []byte("hello"), 0o600)
		_, _, err = resolveSecret(t.TempDir(), bad, true)
		if !errors.Is(err, mesh.ErrBadSecret) {
			t.Fatalf("malformed: %v", err)
		}
	})
}

func TestParseResources(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]float64
		bad  bool
	}{
		{in: "", want: nil},
		{in: "GPU=2", want: map[string]float64{"GPU": 2}},
		{in: "GPU=2, MEM=10e9", want: map[string]float64{"GPU": 2, "MEM": 10e9}},
		{in: "GPU", bad: true},
		{in: "GPU=two", bad: true},
		{in: "=1", bad: true},
		{in: "GPU=-1", bad: true},
	} {
		got, err := parseResources(tc.in)
		if (err != nil) != tc.bad {
			t.Fatalf("%q: err %v, want bad=%v", tc.in, err, tc.bad)
		}
		if !tc.bad && fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Fatalf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}
