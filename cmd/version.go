package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `mesh version` prints: the module's version and the
// VCS revision it was built from (as recorded by the Go toolchain).
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildRevision is set by `make build` (-ldflags -X) to `git describe
// --always --dirty`, for builds where the Go toolchain records no VCS
// information (e.g. -buildvcs=false).
var buildRevision string

func buildVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Revision: buildRevision, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if v.Revision == "" {
				v.Revision = s.Value
			}
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "version",
		Short:   "Print the mesh binary's version, VCS revision and Go version",
		Example: "  mesh version\n  mesh version --json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := buildVersion()
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(v)
			}
			rev := v.Revision
			if rev == "" {
				rev = "unknown"
			} else if len(rev) == 40 {
				rev = rev[:12]
			}
			if v.Modified {
				rev += " (modified)"
			}
			fmt.Fprintf(c.OutOrStdout(), "mesh %s, revision %s %s, %s %s\n", v.Version, rev, v.Time, v.Go, v.Platform)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return c
}
