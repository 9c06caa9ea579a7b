// Package image builds mesh's container image without a Docker daemon: one
// layer on an empty base (like `FROM scratch`) holding the static mesh
// binary, CA certificates, a non-root user and the /data volume, with the
// same configuration as deploy/Dockerfile. The result is written as a
// tarball that `docker load` and `podman load` read, or as an OCI image
// layout directory (skopeo, crane, containerd, kind/k3s image import).
package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's settings; deploy/Dockerfile's final stage says the same (a
// test checks that the two agree).
const (
	BinaryPath    = "/mesh"
	CACertsPath   = "/etc/ssl/certs/ca-certificates.crt"
	DataDir       = "/data"
	UID           = 65532 // the "nonroot" user of distroless images
	User          = "65532:65532"
	MeshPort      = "7946/tcp"
	DashboardPort = "8787/tcp"
)

// Entrypoint and Cmd: `docker run IMAGE` starts a node that creates a mesh;
// `docker run IMAGE join PEER --secret-file F` joins one.
var (
	Entrypoint = []string{BinaryPath}
	Cmd        = []string{"join"}
	// Env: the node's defaults inside the container (every flag has its
	// MESH_* variable; a flag on the command line wins).
	Env = []string{
		"PATH=/",
		"HOME=" + DataDir,
		"MESH_DATA_DIR=" + DataDir,
		"MESH_LISTEN=/ip4/0.0.0.0/tcp/7946",
		"MESH_DASHBOARD=:8787",
	}
)

// DefaultCACerts is where Debian, Ubuntu and Alpine keep the CA bundle.
const DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"

// Config says what to put in the image.
type Config struct {
	Binary  string // the static mesh binary (CGO_ENABLED=0)
	CACerts string // a PEM CA bundle; DefaultCACerts if empty
	Arch    string // GOARCH of the binary, e.g. amd64, arm64
	Version string // org.opencontainers.image.version label; optional
}

// CheckStatic fails unless path is an ELF executable without a program
// interpreter (PT_INTERP): a dynamically linked binary cannot run in an
// image without a libc.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable (%v): build mesh for Linux with CGO_ENABLED=0 GOOS=linux go build ./cmd/mesh", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it has a program interpreter): rebuild it with CGO_ENABLED=0 go build ./cmd/mesh", path)
		}
	}
	return nil
}

// Build returns the image: one layer on an empty base.
func Build(c Config) (v1.Image, error) {
	if c.CACerts == "" {
		c.CACerts = DefaultCACerts
	}
	if c.Arch == "" {
		return nil, errors.New("image: the binary's architecture (GOARCH) is required")
	}
	if err := CheckStatic(c.Binary); err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(c.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the mesh binary: %w", err)
	}
	certs, err := os.ReadFile(c.CACerts)
	if err != nil {
		return nil, fmt.Errorf("read the CA bundle %s (%v): install ca-certificates or pass its path with --ca-certs", c.CACerts, err)
	}
	data, err := layerTar(bin, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("make the layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", c.Arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible: same inputs, same digest
	labels := map[string]string{
		"org.opencontainers.image.title":       "mesh",
		"org.opencontainers.image.description": "a mesh node: Dask for Go with no single point of failure",
	}
	if c.Version != "" {
		labels["org.opencontainers.image.version"] = c.Version
	}
	cf.Config = v1.Config{
		Entrypoint:   Entrypoint,
		Cmd:          Cmd,
		User:         User,
		WorkingDir:   DataDir,
		Env:          Env,
		ExposedPorts: map[string]struct{}{MeshPort: {}, DashboardPort: {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		Labels:       labels,
		StopSignal:   "SIGTERM", // the node leaves the mesh gracefully on it
	}
	return mutate.ConfigFile(img, cf)
}

// layerTar is the layer's tar: the binary, the CA bundle, /etc/passwd and
// /etc/group naming the non-root user, /data owned by it, and /tmp.
func layerTar(bin, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0).UTC()
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: uid, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/:/sbin/nologin\nmesh:x:%d:%d:mesh:%s:/sbin/nologin\n", UID, UID, DataDir)
	group := fmt.Sprintf("root:x:0:\nmesh:x:%d:\n", UID)
	steps := []error{
		dir("etc/", 0o755, 0),
		file("etc/passwd", 0o644, []byte(passwd)),
		file("etc/group", 0o644, []byte(group)),
		dir("etc/ssl/", 0o755, 0),
		dir("etc/ssl/certs/", 0o755, 0),
		file(CACertsPath[1:], 0o644, certs),
		dir("data/", 0o700, UID),
		dir("tmp/", 0o1777, 0),
		file(BinaryPath[1:], 0o755, bin),
	}
	if err := errors.Join(steps...); err != nil {
		return nil, fmt.Errorf("write the layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteDockerTarball writes img as a tarball tagged tag (e.g. mesh:latest)
// for `docker load -i` / `podman load -i`.
func WriteDockerTarball(path, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image tag %q: %w (want e.g. mesh:latest or registry.example/mesh:v1)", tag, err)
	}
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteOCILayout writes img into an OCI image layout directory (created if
// missing), annotated with tag as its ref name.
func WriteOCILayout(dir, tag string, img v1.Image) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return nil
}
