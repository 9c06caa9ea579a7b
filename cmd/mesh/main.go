// Command mesh runs a mesh node (`mesh join`), asks a mesh for its status
// (`mesh status`), or runs a local in-process mesh (`mesh run`).
package main

import (
	"os"

	"github.com/meshcompute/mesh/cmd"
)

func main() { os.Exit(cmd.Main(os.Args[1:])) }
