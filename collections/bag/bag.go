package bag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/futures"
)

// Bag is a lazy, partitioned collection of values: a plan that becomes a
// task graph when it is computed. Methods return new Bags; nothing runs
// until Compute, Take, ToText or ToDataFrame. A Bag whose plan is invalid
// (an unknown function, say) carries the error to those calls.
type Bag struct {
	n      *node
	nparts int
}

// Item is a lazy single value (Count, Fold, Reduction).
type Item struct{ n *node }

// node is one step of a plan. Exactly one of text, lits, held, step, agg,
// group is set (or err).
type node struct {
	err   error
	text  []TextPart        // source: lines of text files
	lits  [][]byte          // source: FromSlice partitions (partition values)
	held  []*futures.Future // source: persisted partitions
	input *node
	step  *Step
	agg   *Agg
	group *GroupSpec
}

// Step is a per-partition operation, run by the built-in "bag.step".
type Step struct {
	_msgpack struct{} `msgpack:",as_array"`
	Op       string   // map, filter, flatmap, json, pluck, str.lower/upper/strip/split, flatten
	Func     string   // the registered function of map, filter, flatmap
	Key      []byte   // pluck: the encoded map key, or nil with Index
	Index    int      // pluck: the array index when Key is nil
	Skip     bool     // json: skip invalid lines instead of failing
	// Origin (json) is the text part the partition's elements are the
	// lines of, one for one, so that an error can name the file and line.
	Origin *TextPart
	Part   int // json: the partition's index, for errors without Origin
	// Flatten (str.split): write the parts as elements, not a list.
	Flatten bool
}

// Agg is a reduction of every partition into one value, run by
// "bag.partial" on each partition and "bag.combine" over the partials (a
// tree of fan-in 8).
type Agg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Op       string   // count, frequencies, distinct, topk, fold, reduction
	Func     string   // topk key, fold binop, reduction perpartition
	Combine  string   // fold combine, reduction aggregate
	K        int
	Initial  []byte // fold: the encoded initial value
	HasInit  bool
}

// GroupSpec is a hash shuffle by a key function.
type GroupSpec struct {
	_msgpack struct{} `msgpack:",as_array"`
	Func     string
	N        int
}

// Pair is an element of Frequencies: a value and how many times it occurs.
// Decode into it with ComputeAs or TakeAs.
type Pair[T any] struct {
	_msgpack struct{} `msgpack:",as_array"`
	Value    T
	Count    int64
}

// Group is an element of GroupBy: a key and its values.
type Group[K, V any] struct {
	_msgpack struct{} `msgpack:",as_array"`
	Key      K
	Values   []V
}

// ErrInvalid is wrapped by errors of bad arguments to Bag methods.
var ErrInvalid = errors.New("invalid bag operation")

func invalid(format string, args ...any) *node {
	return &node{err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// checkFunc says whether fn is registered in this binary with the arity
// the operation calls it with.
func checkFunc(op, fn string, arity int) error {
	if fn == "" {
		return fmt.Errorf("%w: %s: empty function name", ErrInvalid, op)
	}
	f, err := funcs.Lookup(fn)
	if err != nil {
		return fmt.Errorf("bag %s: %w", op, err)
	}
	if err := f.CheckArity(arity); err != nil {
		return fmt.Errorf("bag %s: %s is called with %d argument(s): %w", op, fn, arity, err)
	}
	return nil
}

// FromSlice is a bag of items cut into about npartitions partitions of
// consecutive items. The items travel inside the graph (as task
// arguments): this is for small data.
func FromSlice[T any](items []T, npartitions int) (*Bag, error) {
	if npartitions < 1 {
		return nil, fmt.Errorf("%w: FromSlice: %d partitions: give at least 1", ErrInvalid, npartitions)
	}
	npartitions = max(1, min(npartitions, len(items)))
	per := (len(items) + npartitions - 1) / npartitions
	var lits [][]byte
	for start := 0; start < len(items) || len(lits) == 0; start += per {
		w := newPartWriter(0)
		for i := start; i < min(start+per, len(items)); i++ {
			b, err := msgpack.Marshal(items[i])
			if err != nil {
				return nil, fmt.Errorf("FromSlice: item %d (%T): %w", i, items[i], err)
			}
			w.add(b)
		}
		lits = append(lits, w.finish())
		if per == 0 {
			break
		}
	}
	return &Bag{n: &node{lits: lits}, nparts: len(lits)}, nil
}

// NPartitions is the number of partitions.
func (b *Bag) NPartitions() int { return b.nparts }

func (b *Bag) with(s Step) *Bag {
	if b.n.err != nil {
		return b
	}
	return &Bag{n: &node{input: b.n, step: &s}, nparts: b.nparts}
}

func (b *Bag) withErr(n *node) *Bag {
	if b.n.err != nil {
		return b
	}
	return &Bag{n: n, nparts: b.nparts}
}

// Map applies the registered function fn (one argument: the element) to
// every element.
func (b *Bag) Map(fn string) *Bag {
	if err := checkFunc("Map", fn, 1); err != nil {
		return b.withErr(&node{err: err})
	}
	return b.with(Step{Op: "map", Func: fn})
}

// Filter keeps the elements for which the registered function fn returns
// true.
func (b *Bag) Filter(fn string) *Bag {
	if err := checkFunc("Filter", fn, 1); err != nil {
		return b.withErr(&node{err: err})
	}
	return b.with(Step{Op: "filter", Func: fn})
}

// FlatMap applies the registered function fn, which returns a slice, to
// every element, and puts the slices' items in the bag.
func (b *Bag) FlatMap(fn string) *Bag {
	if err := checkFunc("FlatMap", fn, 1); err != nil {
		return b.withErr(&node{err: err})
	}
	return b.with(Step{Op: "flatmap", Func: fn})
}

// JSONOption configures DecodeJSON.
type JSONOption func(*Step)

// SkipInvalid drops elements that are not valid JSON instead of failing.
func SkipInvalid() JSONOption { return func(s *Step) { s.Skip = true } }

// DecodeJSON decodes every element, a string of JSON, into its value:
// objects become maps (string keys), arrays slices, integral numbers
// int64, other numbers float64. An element that is not valid JSON fails
// the computation with an error naming the file and line (when the
// elements are still the lines of ReadText, one for one, as after Map;
// otherwise the partition and element), unless SkipInvalid is given.
func (b *Bag) DecodeJSON(opts ...JSONOption) *Bag {
	s := Step{Op: "json"}
	for _, o := range opts {
		o(&s)
	}
	return b.with(s)
}

// Pluck takes the value under key of every element: a string key of maps
// (records), or an int index of slices. An element without it fails the
// computation.
func (b *Bag) Pluck(key any) *Bag {
	switch k := key.(type) {
	case string:
		enc, _ := msgpack.Marshal(k)
		return b.with(Step{Op: "pluck", Key: enc})
	case int:
		return b.with(Step{Op: "pluck", Index: k})
	}
	return b.withErr(invalid("Pluck(%v): the key is a %T; give a string (map key) or an int (index)", key, key))
}

func (b *Bag) reduce(a Agg) *node {
	if b.n.err != nil {
		return b.n
	}
	return &node{input: b.n, agg: &a}
}

// Frequencies is a bag of one partition of [value, count] pairs, one per
// distinct value, most frequent first (ties in the order of the values'
// encodings). Values are equal when their msgpack encodings are.
func (b *Bag) Frequencies() *Bag {
	return &Bag{n: b.reduce(Agg{Op: "frequencies"}), nparts: 1}
}

// Distinct is a bag of one partition of the distinct values (equal when
// their encodings are), in order of first appearance.
func (b *Bag) Distinct() *Bag { return &Bag{n: b.reduce(Agg{Op: "distinct"}), nparts: 1} }

// TopK is a bag of one partition of the k largest elements, largest first,
// ordered by the elements themselves (numbers, strings or bools) or, when
// key is not "", by the registered function key of each element.
func (b *Bag) TopK(k int, key string) *Bag {
	if k < 0 {
		return b.withErr(invalid("TopK(%d): k must not be negative", k))
	}
	if key != "" {
		if err := checkFunc("TopK", key, 1); err != nil {
			return b.withErr(&node{err: err})
		}
	}
	return &Bag{n: b.reduce(Agg{Op: "topk", K: k, Func: key}), nparts: 1}
}

// Count is the number of elements.
func (b *Bag) Count() *Item { return &Item{n: b.reduce(Agg{Op: "count"})} }

// Fold reduces the elements with the registered function binop(acc, x)
// acc, partition by partition, then the partitions' results with combine
// (binop when ""), as Dask's fold. Without an initial value, each fold
// starts from its first element, and folding an empty bag is an error;
// FoldInit gives one.
func (b *Bag) Fold(binop, combine string) *Item { return b.fold(binop, combine, nil, false) }

// FoldInit is Fold starting each partition's fold, and each combination
// (every level of the tree of fan-in 8), from initial, as Dask's fold does:
// give an identity of binop and combine (0 for a sum, say), or expect it
// counted once per partition and per combine.
func (b *Bag) FoldInit(binop, combine string, initial any) *Item {
	enc, err := msgpack.Marshal(initial)
	if err != nil {
		return &Item{n: invalid("FoldInit: the initial value (%T) cannot be encoded: %v", initial, err)}
	}
	return b.fold(binop, combine, enc, true)
}

func (b *Bag) fold(binop, combine string, initial []byte, hasInit bool) *Item {
	if combine == "" {
		combine = binop
	}
	for _, fn := range []string{binop, combine} {
		if err := checkFunc("Fold", fn, 2); err != nil {
			return &Item{n: &node{err: err}}
		}
	}
	return &Item{n: b.reduce(Agg{Op: "fold", Func: binop, Combine: combine, Initial: initial, HasInit: hasInit})}
}

// Reduction calls the registered function perpartition with each
// partition's elements (as a slice), then aggregate with a slice of those
// results, in a tree (so aggregate also combines its own results, as in
// Dask), and is the final aggregate's value.
func (b *Bag) Reduction(perpartition, aggregate string) *Item {
	for _, fn := range []string{perpartition, aggregate} {
		if err := checkFunc("Reduction", fn, 1); err != nil {
			return &Item{n: &node{err: err}}
		}
	}
	return &Item{n: b.reduce(Agg{Op: "reduction", Func: perpartition, Combine: aggregate})}
}

// GroupBy is a bag of [key, [values...]] pairs, one per distinct key
// given by the registered function key, in npartitions partitions
// (0: as many as b has), through a hash shuffle: each partition is split
// by the keys' hashes and output partition j gathers bucket j of every
// split. Within a group, values keep the bag's order.
func (b *Bag) GroupBy(key string, npartitions int) *Bag {
	if err := checkFunc("GroupBy", key, 1); err != nil {
		return b.withErr(&node{err: err})
	}
	if npartitions < 0 {
		return b.withErr(invalid("GroupBy: %d partitions", npartitions))
	}
	if npartitions == 0 {
		npartitions = b.nparts
	}
	if b.n.err != nil {
		return b
	}
	return &Bag{n: &node{input: b.n, group: &GroupSpec{Func: key, N: npartitions}}, nparts: npartitions}
}

// Graph builds the bag's task graph as built (not optimized) and the refs
// of its partitions; Compute optimizes it (futures.Graph.Optimize).
func (b *Bag) Graph() (*futures.Graph, []futures.Ref, error) {
	bl := newBuilder()
	refs, err := bl.parts(b.n)
	return bl.g, refs, err
}

// Graph builds the item's task graph and the ref of its value.
func (it *Item) Graph() (*futures.Graph, futures.Ref, error) {
	bl := newBuilder()
	refs, err := bl.parts(it.n)
	if err != nil {
		return nil, futures.Ref{}, err
	}
	return bl.g, refs[0], nil
}

// submit optimizes the graph for outputs and submits it.
func submit(ctx context.Context, c *futures.Client, g *futures.Graph, outputs []futures.Ref) ([]*futures.Future, error) {
	og, err := g.Optimize(outputs...)
	if err != nil {
		return nil, err
	}
	return c.Compute(ctx, og, outputs...)
}

// computeParts runs the first n partitions' graph (all when n < 0) and
// returns their payloads (msgpack arrays).
func (b *Bag) computeParts(ctx context.Context, c *futures.Client, n int) ([][]byte, error) {
	g, refs, err := b.Graph()
	if err != nil {
		return nil, err
	}
	if n >= 0 && n < len(refs) {
		refs = refs[:n]
	}
	fs, err := submit(ctx, c, g, refs)
	if err != nil {
		return nil, err
	}
	defer c.Release(context.WithoutCancel(ctx), fs...)
	vals, err := futures.GatherAs[futures.RawBytes](ctx, c, fs)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		// The gathered bytes are the bin's payload: the array.
		out[i] = v
	}
	return out, nil
}

// Compute runs the bag and returns its elements decoded into any: maps
// are map[string]any, slices []any, integers int64 (uint64 above
// math.MaxInt64), floats float64, strings string, bytes []byte.
func (b *Bag) Compute(ctx context.Context, c *futures.Client) ([]any, error) {
	return ComputeAs[any](ctx, c, b)
}

// ComputeAs runs the bag and decodes its elements into T.
func ComputeAs[T any](ctx context.Context, c *futures.Client, b *Bag) ([]T, error) {
	parts, err := b.computeParts(ctx, c, -1)
	if err != nil {
		return nil, err
	}
	return decodeParts[T](parts, -1)
}

func decodeParts[T any](parts [][]byte, limit int) ([]T, error) {
	var out []T
	for i, p := range parts {
		var items []T
		if err := decode(p, &items); err != nil {
			return nil, fmt.Errorf("bag: decode partition %d into %T: %w", i, items, err)
		}
		out = append(out, items...)
		if limit >= 0 && len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}

// Take returns the first n elements, computing the first partition, then
// the first 2, 4, ... until it has them.
func (b *Bag) Take(ctx context.Context, c *futures.Client, n int) ([]any, error) {
	return TakeAs[any](ctx, c, b, n)
}

// TakeAs is Take decoding into T.
func TakeAs[T any](ctx context.Context, c *futures.Client, b *Bag, n int) ([]T, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: Take(%d)", ErrInvalid, n)
	}
	for k := 1; ; k *= 2 {
		parts, err := b.computeParts(ctx, c, k)
		if err != nil {
			return nil, err
		}
		out, err := decodeParts[T](parts, n)
		if err != nil {
			return nil, err
		}
		if len(out) >= n || k >= b.nparts {
			return out, nil
		}
	}
}

// Persist computes the bag's partitions and keeps them in the mesh: the
// returned Bag reads them instead of computing them again (each of its
// graphs starts from the held partitions). It does not wait for them.
// Release drops them.
//
//	words, err := lines.FlatMap("words").Persist(ctx, c)
//	defer words.Release(ctx, c)
func (b *Bag) Persist(ctx context.Context, c *futures.Client) (*Bag, error) {
	g, refs, err := b.Graph()
	if err != nil {
		return nil, err
	}
	fs, err := submit(ctx, c, g, refs)
	if err != nil {
		return nil, err
	}
	return &Bag{n: &node{held: fs}, nparts: len(fs)}, nil
}

// Release drops the partitions a persisted bag holds (nothing for other
// bags).
func (b *Bag) Release(ctx context.Context, c *futures.Client) error {
	if b.n.held == nil {
		return nil
	}
	return c.Release(ctx, b.n.held...)
}

// Compute runs the item and decodes its value into out (a pointer).
func (it *Item) Compute(ctx context.Context, c *futures.Client, out any) error {
	g, ref, err := it.Graph()
	if err != nil {
		return err
	}
	fs, err := submit(ctx, c, g, []futures.Ref{ref})
	if err != nil {
		return err
	}
	defer c.Release(context.WithoutCancel(ctx), fs...)
	raw, err := futures.GatherAs[msgpack.RawMessage](ctx, c, fs)
	if err != nil {
		return err
	}
	if err := decode(raw[0], out); err != nil {
		return fmt.Errorf("bag: decode the item into %T: %w", out, err)
	}
	return nil
}

// decode decodes b into out with every integer in an interface value an
// int64 (uint64 only above math.MaxInt64) and every float a float64,
// whatever its msgpack encoding.
func decode(b []byte, out any) error {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	d.UseLooseInterfaceDecoding(true)
	if err := d.Decode(out); err != nil {
		return err
	}
	normalizeOut(reflect.ValueOf(out))
	return nil
}

// normalizeOut turns loose-decoded uint64s that fit into int64s inside
// the interface values reachable from v (slices, maps, pointers).
func normalizeOut(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalizeOut(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem() == anyType {
			for i := range v.Len() {
				if e := v.Index(i); e.CanSet() && !e.IsNil() {
					e.Set(reflect.ValueOf(normalize(e.Interface())))
				}
			}
		}
	case reflect.Interface:
		if v.Type() == anyType && v.CanSet() && !v.IsNil() {
			v.Set(reflect.ValueOf(normalize(v.Interface())))
		}
	}
}

var anyType = reflect.TypeFor[any]()

func normalize(x any) any {
	switch y := x.(type) {
	case uint64:
		if y <= math.MaxInt64 {
			return int64(y)
		}
	case []any:
		for i, e := range y {
			y[i] = normalize(e)
		}
	case map[string]any:
		for k, e := range y {
			y[k] = normalize(e)
		}
	}
	return x
}
