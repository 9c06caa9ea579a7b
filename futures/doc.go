// Package futures is the client API of a mesh, in the style of Dask's
// futures: register functions by name, connect to any node, Submit calls
// and Map them over inputs, pass futures as arguments to build graphs, and
// Gather, Wait for or iterate AsCompleted over the results. Results stay on
// the workers (replicated); a Future is a reference to one.
//
// Functions are registered at init in a program whose main calls
// cmd.Main, so every node of the mesh runs a binary that knows them:
//
//	func init() { futures.Register("inc", func(x int) int { return x + 1 }) }
//	func main() { os.Exit(cmd.Main(os.Args[1:])) }
//
// NewLocalCluster runs a whole mesh in one process, for tests and laptops.
package futures
