// Package dataframe owns the DataFrame collection: a lazy, partitioned
// table on Apache Arrow whose plan is data. ReadCSV, Select, Join,
// GroupBy(...).Agg and the rest build a plan; Compute, Persist and Len turn
// it into a task graph that the mesh runs (package futures), with
// per-partition steps fused into one task per partition, columns pushed
// down into the readers, group-bys reduced as a tree or, for many groups,
// through a hash shuffle, and joins broadcasting a small side or
// hash-shuffling both. Workers run the graph with built-in operations
// registered by this package ("dataframe.part", "dataframe.agg",
// "dataframe.join", ...), so no user code is needed on the nodes.
// Partitions travel as Arrow IPC.
//
// The Arrow kernels themselves are in package kernels; expressions in
// package expr; the db-benchmark workloads in package dbbench.
package dataframe
