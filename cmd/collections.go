package cmd

// The collections register their built-in task functions at init; every
// binary built on Main imports them, so its nodes can run any collection's
// graph.
import (
	_ "github.com/meshcompute/mesh/collections/bag"
	_ "github.com/meshcompute/mesh/collections/delayed"
)
