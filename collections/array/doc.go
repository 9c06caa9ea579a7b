// Package array owns the mesh's chunked n-dimensional arrays (Dask's
// dask.array): float64, int64 and bool elements with numpy semantics —
// broadcasting, axis reductions, slices with steps — cut into chunks that
// run as tasks on a mesh.
//
// An Array is lazy: a plan of steps with its dtype, shape and chunks.
// Compute builds the plan into one futures.Graph (only the blocks the
// result needs, each chain of blockwise steps fused into one task per
// block, reductions and matrix products as trees) and gathers the result
// as a Dense array; Persist keeps the blocks on the mesh instead. Every
// task runs one built-in function, array.run, whose argument is the block
// program (an Expr): any mesh binary runs arrays without user code.
// Chunks travel as raw little-endian data behind a small header, read in
// place by the tasks that take them.
//
//	x := array.Random([]int{10000, 10000}, []int{1000, 1000}, 42)
//	y := x.Add(x.T()).Sub(x.Mean(1))
//	z, err := y.Slice(array.Every(2), array.From(5000)).Mean(1).Compute(ctx, client)
//
// Bad input (shapes that do not broadcast, an axis out of range, a chunk
// size of 0, matrices whose inner dimensions differ) makes an Array that
// carries the error; Compute returns it.
package array
