// Command imagebuild builds mesh's container image without a Docker daemon
// (see package image):
//
//	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/mesh ./cmd/mesh
//	cd deploy && go run ./cmd/imagebuild --binary ../bin/mesh --out ../bin/mesh-image.tar
//	docker load -i bin/mesh-image.tar    # or: podman load -i ...
//
// --format oci writes an OCI image layout directory instead (skopeo copy
// oci:DIR docker://REGISTRY/mesh:TAG pushes it).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/meshcompute/mesh/deploy/image"
)

func main() {
	var c image.Config
	var out, tag, format string
	flag.StringVar(&c.Binary, "binary", "", "the static mesh binary (CGO_ENABLED=0 GOOS=linux go build ./cmd/mesh); required")
	flag.StringVar(&c.CACerts, "ca-certs", image.DefaultCACerts, "PEM CA bundle copied to "+image.CACertsPath)
	flag.StringVar(&c.Arch, "arch", runtime.GOARCH, "GOARCH the binary was built for")
	flag.StringVar(&c.Version, "version", "", "org.opencontainers.image.version label")
	flag.StringVar(&out, "out", "", "where to write: a tarball file (--format docker) or a directory (--format oci); required")
	flag.StringVar(&tag, "tag", "mesh:latest", "the image's name and tag")
	flag.StringVar(&format, "format", "docker", "docker (a tarball for docker/podman load) or oci (an OCI image layout directory)")
	flag.Parse()
	if c.Binary == "" || out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "imagebuild: --binary and --out are required (and no arguments); see --help")
		os.Exit(2)
	}
	img, err := image.Build(c)
	if err == nil {
		switch format {
		case "docker":
			err = image.WriteDockerTarball(out, tag, img)
		case "oci":
			err = image.WriteOCILayout(out, tag, img)
		default:
			fmt.Fprintf(os.Stderr, "imagebuild: --format %q: want docker or oci\n", format)
			os.Exit(2)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
	digest, _ := img.Digest()
	fmt.Printf("wrote %s (%s, %s format) %s\n", out, tag, format, digest)
}
