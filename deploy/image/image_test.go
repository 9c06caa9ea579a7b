package image_test

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/meshcompute/mesh/deploy/image"
	"github.com/meshcompute/mesh/deploy/internal/meshbin"
)

var (
	buildOnce sync.Once
	staticBin string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// meshBinary builds the repository's mesh command as the Dockerfile does
// (static), once per test run.
func meshBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "mesh-image-test-*")
		if buildErr == nil {
			staticBin, buildErr = meshbin.Build(binDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return staticBin
}

func buildImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := image.Build(image.Config{Binary: meshBinary(t), Arch: runtime.GOARCH, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

// layerFiles reads a layer's tar into memory, by path.
func layerFiles(t *testing.T, l v1.Layer) map[string]entry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = entry{h, data}
	}
	return files
}

// The image written as a docker-loadable tarball, read back: one layer with
// the static binary, the user's files, the volume; the config; and the
// binary taken out of the layer runs.
func TestImageTarball(t *testing.T) {
	img := buildImage(t)
	path := filepath.Join(t.TempDir(), "mesh.tar")
	if err := image.WriteDockerTarball(path, "mesh:test", img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("read the tarball back: %v", err)
	}
	manifest := readManifestJSON(t, path)
	if len(manifest) != 1 || !slices.Contains(manifest[0].RepoTags, "mesh:test") {
		t.Errorf("the tarball's manifest.json = %+v, want one image tagged mesh:test (docker load needs it)", manifest)
	}
	layers, err := back.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	files := layerFiles(t, layers[0])

	bin, ok := files["mesh"]
	if !ok {
		t.Fatalf("no /mesh in the layer; it has %v", keys(files))
	}
	if bin.hdr.Typeflag != tar.TypeReg || bin.hdr.Mode&0o111 != 0o111 {
		t.Errorf("/mesh: type %c mode %o, want a regular file executable by all", bin.hdr.Typeflag, bin.hdr.Mode)
	}
	extracted := filepath.Join(t.TempDir(), "mesh")
	if err := os.WriteFile(extracted, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := image.CheckStatic(extracted); err != nil {
		t.Errorf("the binary in the image: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, extracted, "--help")
	cmd.Env = []string{} // as in the image: nothing from this host
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "join") {
		t.Errorf("the image's /mesh --help: %v\n%s", err, out)
	}

	if e, ok := files[strings.TrimPrefix(image.CACertsPath, "/")]; !ok || !strings.Contains(string(e.data), "BEGIN CERTIFICATE") {
		t.Errorf("no CA bundle at %s", image.CACertsPath)
	}
	if e := files["etc/passwd"]; !strings.Contains(string(e.data), "mesh:x:65532:65532:") {
		t.Errorf("/etc/passwd lacks the mesh user:\n%s", e.data)
	}
	if e, ok := files["data"]; !ok || e.hdr.Typeflag != tar.TypeDir || e.hdr.Uid != image.UID {
		t.Errorf("/data: %+v, want a directory owned by uid %d", e.hdr, image.UID)
	}
	if e, ok := files["tmp"]; !ok || e.hdr.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp missing or not mode 1777")
	}

	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/mesh"}) || !slices.Equal(c.Cmd, []string{"join"}) {
		t.Errorf("entrypoint %q cmd %q, want [/mesh] [join]", c.Entrypoint, c.Cmd)
	}
	if u := strings.Split(c.User, ":")[0]; u == "" || u == "0" || u == "root" {
		t.Errorf("user %q: want a non-root user", c.User)
	}
	for _, p := range []string{"7946/tcp", "8787/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, c.ExposedPorts)
		}
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("no /data volume: %v", c.Volumes)
	}
	for _, kv := range []string{"MESH_DATA_DIR=/data", "MESH_DASHBOARD=:8787", "MESH_LISTEN=/ip4/0.0.0.0/tcp/7946"} {
		if !slices.Contains(c.Env, kv) {
			t.Errorf("env lacks %s: %v", kv, c.Env)
		}
	}
	if c.StopSignal != "SIGTERM" {
		t.Errorf("stop signal %q, want SIGTERM (a graceful leave)", c.StopSignal)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
}

type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func readManifestJSON(t *testing.T, path string) []manifestEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in %s: %v", path, err)
		}
		if h.Name == "manifest.json" {
			var m []manifestEntry
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
}

func keys(m map[string]entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Same inputs, same image: the digest does not depend on when it is built.
// The OCI layout holds that same image.
func TestImageReproducibleAndOCILayout(t *testing.T) {
	a, b := buildImage(t), buildImage(t)
	da, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds of the same binary: digests %s and %s", da, db)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := image.WriteOCILayout(dir, "mesh:test", a); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != da || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "mesh:test" {
		t.Errorf("OCI layout index %+v, want the image %s named mesh:test", im.Manifests, da)
	}
}

// A dynamically linked binary is refused with what to do.
func TestDynamicBinaryRefused(t *testing.T) {
	dyn := ""
	for _, p := range []string{"/bin/sh", "/bin/ls", "/usr/bin/env"} {
		if image.CheckStatic(p) != nil {
			dyn = p
			break
		}
	}
	if dyn == "" {
		t.Skip("no dynamically linked binary found on this host")
	}
	_, err := image.Build(image.Config{Binary: dyn, Arch: runtime.GOARCH})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("Build(%s) = %v, want an error saying to build with CGO_ENABLED=0", dyn, err)
	}
}

// deploy/Dockerfile's final stage sets up the same image as package image.
func TestDockerfileMatches(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	cont := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	last := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			last = i
		}
	}
	if last < 0 || lines[last] != "FROM scratch" {
		t.Fatalf("the Dockerfile's last stage does not start FROM scratch")
	}
	if !strings.Contains(string(data), "CGO_ENABLED=0") {
		t.Error("the Dockerfile's build stage does not build with CGO_ENABLED=0")
	}
	final := map[string][]string{}
	for _, l := range lines[last+1:] {
		op, arg, _ := strings.Cut(l, " ")
		final[strings.ToUpper(op)] = append(final[strings.ToUpper(op)], strings.TrimSpace(arg))
	}
	jsonList := func(op string) []string {
		var v []string
		if len(final[op]) != 1 || json.Unmarshal([]byte(final[op][0]), &v) != nil {
			t.Errorf("%s: want one JSON list, got %q", op, final[op])
		}
		return v
	}
	if got := jsonList("ENTRYPOINT"); !slices.Equal(got, image.Entrypoint) {
		t.Errorf("ENTRYPOINT %q, package image %q", got, image.Entrypoint)
	}
	if got := jsonList("CMD"); !slices.Equal(got, image.Cmd) {
		t.Errorf("CMD %q, package image %q", got, image.Cmd)
	}
	if got := jsonList("VOLUME"); !slices.Equal(got, []string{image.DataDir}) {
		t.Errorf("VOLUME %q, want [%s]", got, image.DataDir)
	}
	if !slices.Equal(final["USER"], []string{image.User}) {
		t.Errorf("USER %q, package image %q", final["USER"], image.User)
	}
	if !slices.Equal(final["STOPSIGNAL"], []string{"SIGTERM"}) {
		t.Errorf("STOPSIGNAL %q, want SIGTERM", final["STOPSIGNAL"])
	}
	ports := strings.Fields(strings.Join(final["EXPOSE"], " "))
	slices.Sort(ports)
	if want := []string{image.MeshPort, image.DashboardPort}; !slices.Equal(ports, want) {
		t.Errorf("EXPOSE %q, want %q", ports, want)
	}
	env := strings.Fields(strings.Join(final["ENV"], " "))
	if !slices.Equal(env, image.Env) {
		t.Errorf("ENV %q, package image %q", env, image.Env)
	}
	for _, want := range []string{"/mesh", image.CACertsPath, "/etc/", "/data", "/tmp"} {
		found := false
		for _, c := range final["COPY"] {
			found = found || strings.HasSuffix(c, " "+want)
		}
		if !found {
			t.Errorf("no COPY to %s in the final stage: %q", want, final["COPY"])
		}
	}
}
