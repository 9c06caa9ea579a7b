// Package kernels owns the single-process compute layer of the DataFrame collection: typed, allocation-light
// kernels over Arrow record batches that the distributed DataFrame calls inside tasks. It holds the CSV reader
// for byte-range partitions, two-phase group-by (GroupByPartial / GroupByCombine / GroupByFinal) with
// open-addressing hash tables and dictionary-encoded string keys, HashPartition for shuffles, hash joins,
// sorting and selection, reductions and Arrow IPC encoding. Every operation description (Agg, CSVOptions) is a
// plain struct that msgpack round-trips; the kernels hold no scheduler or network code.
//
// Every Arrow array or record returned by a kernel is owned by the caller, who must Release it. Inputs are never
// released by a kernel. Record lengths are limited to 2^31-1 rows (indices are int32).
package kernels
