// Command chaosnode is the node binary of the chaos suite: the whole mesh
// command line (`chaosnode join`, `status`, ...) plus the workload
// functions of package chaos (chaos.leaf, chaos.add, chaos.inc,
// chaos.double), registered by importing it. Every node the suite starts
// runs it; the suite builds it once (chaos.BuildNode).
package main

import (
	"os"

	_ "github.com/meshcompute/mesh/chaos" // registers the workload functions
	"github.com/meshcompute/mesh/cmd"
)

func main() { os.Exit(cmd.Main(os.Args[1:])) }
