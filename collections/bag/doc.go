// Package bag owns the Bag collection: a lazy, partitioned collection of
// arbitrary values, as dask.bag, for semi-structured data (lines of text,
// JSON records). ReadText and FromSlice make bags; Map, Filter and FlatMap
// apply functions registered by name (futures.Register) element by
// element; DecodeJSON, Pluck, Frequencies, Distinct, TopK, Count, Fold,
// Reduction and GroupBy are built in; Compute, Take, ToText and
// ToDataFrame run them.
//
//	func init() { futures.Register("words", strings.Fields) }
//
//	lines, err := bag.ReadText("books/*.txt")
//	counts, err := bag.ComputeAs[bag.Pair[string]](ctx, c, lines.FlatMap("words").Frequencies())
//
//	recs, err := bag.ReadText("events/*.jsonl.gz")
//	top, err := bag.TakeAs[bag.Pair[string]](ctx, c, recs.DecodeJSON().Pluck("user").Frequencies(), 10)
//
// A plan becomes one futures.Graph: a task per partition per step, trees
// of combine tasks for reductions, a split/pick/group shuffle for GroupBy;
// the graph optimizer (futures.Graph.Optimize) culls it, fuses each
// partition's chain of steps into one task and orders it depth-first.
// Partitions are msgpack arrays of the elements' encodings inside a bin
// value; tasks walk them without decoding, handing each element's bytes to
// the registered function and appending its encoded result. The built-in
// operations ("bag.text", "bag.step", "bag.partial", ...) are registered
// at init; cmd imports the package, so every mesh binary has them. The
// user's functions must be registered in the client's binary too: an
// unknown name is an error when the plan is made.
package bag
