package bag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/actors/funcs"
	"github.com/meshcompute/mesh/collections/internal/anyval"
	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// The built-in task functions of bags, registered at init: every binary
// importing the package (cmd does) can run a bag's graph.
const (
	textFunc       = "bag.text"
	litFunc        = "bag.lit"
	stepFunc       = "bag.step"
	partialFunc    = "bag.partial"
	combineFunc    = "bag.combine"
	foldResultFunc = "bag.foldresult"
	splitFunc      = "bag.split"
	pickFunc       = "bag.pick"
	groupFunc      = "bag.group"
	writeFunc      = "bag.write"
)

func init() {
	futures.Register(textFunc, runText)
	// A FromSlice partition (a literal), or a persisted one: as it is.
	futures.Register(litFunc, func(p futures.RawValue) futures.Encoded { return futures.Encoded(p) })
	futures.Register(stepFunc, runStep)
	futures.Register(partialFunc, runPartial)
	futures.Register(combineFunc, runCombine)
	futures.Register(foldResultFunc, runFoldResult)
	futures.Register(splitFunc, runSplit)
	futures.Register(pickFunc, runPick)
	futures.Register(groupFunc, runGroup)
	futures.Register(writeFunc, runWrite)
}

func runText(ctx context.Context, p TextPart) (futures.Encoded, error) {
	b, _, err := readBlock(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("read text: %w", err)
	}
	return linesPartition(b), nil
}

// ErrInvalidJSON is wrapped by the task error of DecodeJSON on a line that
// is not valid JSON. Over the mesh the error reaches Compute as a
// *futures.TaskError whose message contains this text (errors.Is does not
// cross the network).
var ErrInvalidJSON = errors.New("invalid JSON")

func lookup(name string) (*funcs.Func, error) {
	fn, err := funcs.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	return fn, nil
}

func runStep(ctx context.Context, s Step, part futures.RawBytes) (futures.Encoded, error) {
	var fn *funcs.Func
	if s.Func != "" {
		var err error
		if fn, err = lookup(s.Func); err != nil {
			return nil, err
		}
	}
	w := newPartWriter(len(part))
	args := make([][]byte, 1)
	call := func(i int, e []byte) ([]byte, error) {
		args[0] = e
		out, err := fn.Call(ctx, args)
		if err != nil {
			return nil, fmt.Errorf("bag %s %s: element %d: %w", s.Op, s.Func, i, err)
		}
		return out, nil
	}
	var jp jsonParser
	err := elements(part, func(i int, e []byte) error {
		switch s.Op {
		case "map":
			out, err := call(i, e)
			if err != nil {
				return err
			}
			w.add(out)
		case "filter":
			out, err := call(i, e)
			if err != nil {
				return err
			}
			switch {
			case len(out) == 1 && out[0] == 0xc3:
				w.add(e)
			case len(out) == 1 && out[0] == 0xc2:
			default:
				return fmt.Errorf("bag filter %s: element %d: the function returned %s, not a bool", s.Func, i, describe(out))
			}
		case "flatmap":
			out, err := call(i, e)
			if err != nil {
				return err
			}
			if err := elements(out, func(_ int, x []byte) error { w.add(x); return nil }); err != nil {
				return fmt.Errorf("bag flatmap %s: element %d: the function returned %s, not a slice: %w", s.Func, i, describe(out), err)
			}
		case "json":
			text, ok := strPayload(e)
			var err error
			if !ok {
				err = fmt.Errorf("the element is %s, not a string", describe(e))
			} else {
				// Straight into the partition; cut back on an error.
				mark := len(w.buf)
				if w.buf, err = jp.appendJSON(w.buf, text); err == nil {
					w.n++
					return nil
				}
				w.buf = w.buf[:mark]
			}
			if s.Skip {
				return nil
			}
			return jsonError(s, i, err)
		case "str.lower", "str.upper", "str.strip", "str.split":
			return strStep(w, s, i, e)
		case "flatten":
			if err := elements(e, func(_ int, x []byte) error { w.add(x); return nil }); err != nil {
				return fmt.Errorf("bag flatten: element %d is %s, not a list: %w", i, describe(e), err)
			}
		case "pluck":
			v, err := pluck(e, s)
			if err != nil {
				return fmt.Errorf("bag pluck: element %d: %w", i, err)
			}
			w.add(v)
		default:
			return fmt.Errorf("bag: unknown step %q (a binary older than the client's?)", s.Op)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w.finish(), nil
}

func jsonError(s Step, i int, err error) error {
	if s.Origin != nil {
		line, lerr := lineOf(context.Background(), *s.Origin, i)
		if lerr == nil {
			return fmt.Errorf("bag: %w in %s line %d: %v (DecodeJSON(bag.SkipInvalid()) skips such lines)", ErrInvalidJSON, storage.Key(s.Origin.Path), line, err)
		}
	}
	return fmt.Errorf("bag: %w in element %d of partition %d: %v (DecodeJSON(bag.SkipInvalid()) skips such elements)", ErrInvalidJSON, i, s.Part, err)
}

// describe renders an encoded value for an error message.
func describe(b []byte) string {
	var v any
	if err := msgpack.Unmarshal(b, &v); err != nil {
		return fmt.Sprintf("an undecodable value (%v)", err)
	}
	t := fmt.Sprintf("%T", v)
	switch v.(type) {
	case map[string]any:
		t = "map"
	case []any:
		t = "slice"
	case string:
		return fmt.Sprintf("string %.60q", v)
	}
	s := fmt.Sprintf("%s %v", t, v)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// pluck returns the encoding of the value under s's key (map) or index
// (array) of e.
func pluck(e []byte, s Step) ([]byte, error) {
	if s.Key == nil {
		n, pos, err := arrayHeader(e, 0)
		if err != nil {
			return nil, fmt.Errorf("index %d of %s: %w", s.Index, describe(e), err)
		}
		if s.Index < 0 || s.Index >= n {
			return nil, fmt.Errorf("index %d out of range of %d items", s.Index, n)
		}
		for range s.Index {
			if pos, err = skipValue(e, pos); err != nil {
				return nil, err
			}
		}
		end, err := skipValue(e, pos)
		if err != nil {
			return nil, err
		}
		return e[pos:end], nil
	}
	n, pos, err := mapHeader(e)
	if err != nil {
		return nil, fmt.Errorf("key %s of %s: %w", describe(s.Key), describe(e), err)
	}
	for range n {
		kend, err := skipValue(e, pos)
		if err != nil {
			return nil, err
		}
		vend, err := skipValue(e, kend)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(e[pos:kend], s.Key) {
			return e[kend:vend], nil
		}
		pos = vend
	}
	var key any
	msgpack.Unmarshal(s.Key, &key)
	return nil, fmt.Errorf("no key %q in %s", fmt.Sprint(key), describe(e))
}

func mapHeader(b []byte) (n, start int, err error) {
	if len(b) == 0 {
		return 0, 0, errCorrupt
	}
	switch c := b[0]; {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), 1, nil
	case c == 0xde:
		v, ok := be(b, 2)
		if !ok {
			return 0, 0, errCorrupt
		}
		return v, 3, nil
	case c == 0xdf:
		v, ok := be(b, 4)
		if !ok {
			return 0, 0, errCorrupt
		}
		return v, 5, nil
	}
	return 0, 0, errors.New("not a map")
}

// counter counts distinct encodings in order of first appearance.
type counter struct {
	index map[string]int
	vals  [][]byte
	count []int64
}

func newCounter() *counter { return &counter{index: map[string]int{}} }

func (c *counter) add(v []byte, n int64) {
	if i, ok := c.index[string(v)]; ok {
		c.count[i] += n
		return
	}
	c.index[string(v)] = len(c.vals)
	c.vals = append(c.vals, v)
	c.count = append(c.count, n)
}

// frequencies encodes the counts as a partition of [value, count] pairs,
// most frequent first, ties by encoding.
func (c *counter) frequencies() futures.Encoded {
	order := make([]int, len(c.vals))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if c.count[ia] != c.count[ib] {
			return c.count[ia] > c.count[ib]
		}
		return bytes.Compare(c.vals[ia], c.vals[ib]) < 0
	})
	w := newPartWriter(0)
	var pair []byte
	for _, i := range order {
		pair = append(append(pair[:0], 0x92), c.vals[i]...)
		w.add(appendInt(pair, c.count[i]))
	}
	return w.finish()
}

func (c *counter) distinct() futures.Encoded {
	w := newPartWriter(0)
	for _, v := range c.vals {
		w.add(v)
	}
	return w.finish()
}

func runPartial(ctx context.Context, a Agg, part futures.RawBytes) (futures.Encoded, error) {
	return reduceStep(ctx, a, false, [][]byte{part})
}

func runCombine(ctx context.Context, a Agg, partials ...futures.RawValue) (futures.Encoded, error) {
	in := make([][]byte, len(partials))
	for i, p := range partials {
		in[i] = p
	}
	return reduceStep(ctx, a, true, in)
}

// reduceStep is one step of a reduction, the same for both kinds: a
// partial (combine false), whose one input is a partition's payload (the
// elements' array), or a combine, whose inputs are partials (or combines)
// as stored: counts, fold pairs, a reduction's values, or partitions (of
// [value, count] pairs for frequencies, of values for distinct and topk).
func reduceStep(ctx context.Context, a Agg, combine bool, inputs [][]byte) (futures.Encoded, error) {
	// arrays calls fn with the elements of every input that is a partition.
	arrays := func(fn func(i int, e []byte) error) error {
		for _, in := range inputs {
			arr := in
			if combine {
				var err error
				if arr, err = payload(in); err != nil {
					return err
				}
			}
			if err := elements(arr, fn); err != nil {
				return err
			}
		}
		return nil
	}
	switch a.Op {
	case "count":
		var total int64
		for _, in := range inputs {
			var n int64
			if combine {
				if err := msgpack.Unmarshal(in, &n); err != nil {
					return nil, err
				}
			} else {
				k, _, err := arrayHeader(in, 0)
				if err != nil {
					return nil, err
				}
				n = int64(k)
			}
			total += n
		}
		return appendInt(nil, total), nil
	case "frequencies", "distinct":
		c := newCounter()
		err := arrays(func(i int, e []byte) error {
			switch {
			case !combine:
				v, err := canonical(e)
				if err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
				c.add(v, 1)
			case a.Op == "distinct":
				c.add(e, 1) // canonical already
			default: // a [value, count] pair
				vend, err := skipValue(e, 1)
				if err != nil {
					return err
				}
				var n int64
				if err := msgpack.Unmarshal(e[vend:], &n); err != nil {
					return err
				}
				c.add(e[1:vend], n)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if a.Op == "distinct" {
			return c.distinct(), nil
		}
		return c.frequencies(), nil
	case "topk":
		var elems [][]byte
		if err := arrays(func(_ int, e []byte) error { elems = append(elems, e); return nil }); err != nil {
			return nil, err
		}
		return topK(ctx, a, elems)
	case "fold":
		// A partial folds the elements with binop, a combine the partials'
		// accumulators with combine; each starts from the initial value
		// (when given), as Dask's fold.
		name, what := a.Func, "bag fold "+a.Func
		if combine {
			name, what = a.Combine, "bag fold combine "+a.Combine
		}
		fn, err := lookup(name)
		if err != nil {
			return nil, err
		}
		has, acc := a.HasInit, []byte(a.Initial)
		add := func(x []byte) error {
			if !has {
				has, acc = true, x
				return nil
			}
			var err error
			acc, err = fn.Call(ctx, [][]byte{acc, x})
			return err
		}
		if combine {
			for _, p := range inputs {
				ph, pacc, err := splitFoldPair(p)
				if err != nil {
					return nil, err
				}
				if ph {
					if err := add(pacc); err != nil {
						return nil, fmt.Errorf("%s: %w", what, err)
					}
				}
			}
		} else {
			err := elements(inputs[0], func(i int, e []byte) error {
				if err := add(e); err != nil {
					return fmt.Errorf("%s: element %d: %w", what, i, err)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		return foldPair(has, acc), nil
	case "reduction":
		// A partial calls perpartition with the partition's elements, a
		// combine aggregate with a slice of the partials.
		name, what, arg := a.Func, "bag reduction "+a.Func, inputs[0]
		if combine {
			name, what = a.Combine, "bag reduction aggregate "+a.Combine
			arg = appendArrayHeader(nil, len(inputs))
			for _, p := range inputs {
				arg = append(arg, p...)
			}
		}
		fn, err := lookup(name)
		if err != nil {
			return nil, err
		}
		out, err := fn.Call(ctx, [][]byte{arg})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("bag: unknown reduction %q", a.Op)
}

func foldPair(has bool, acc []byte) futures.Encoded {
	if !has {
		return futures.Encoded{0x92, 0xc2, 0xc0}
	}
	return futures.Encoded(append([]byte{0x92, 0xc3}, acc...))
}

func splitFoldPair(p []byte) (has bool, acc []byte, err error) {
	if len(p) < 3 || p[0] != 0x92 || (p[1] != 0xc2 && p[1] != 0xc3) {
		return false, nil, fmt.Errorf("%w: not a fold partial", errCorrupt)
	}
	return p[1] == 0xc3, p[2:], nil
}

// ErrEmptyFold: Fold of a bag with no elements and no initial value (in
// the message of the *futures.TaskError that Compute returns).
var ErrEmptyFold = errors.New("fold of an empty bag without an initial value (use FoldInit)")

func runFoldResult(a Agg, p futures.RawValue) (futures.Encoded, error) {
	has, acc, err := splitFoldPair(p)
	if err != nil {
		return nil, err
	}
	if !has {
		return nil, fmt.Errorf("bag: %w", ErrEmptyFold)
	}
	return futures.Encoded(slices.Clone(acc)), nil
}

// topK returns a partition of the k largest of elems, largest first (the
// earlier of equal elements first).
func topK(ctx context.Context, a Agg, elems [][]byte) (futures.Encoded, error) {
	var fn *funcs.Func
	if a.Func != "" {
		var err error
		if fn, err = lookup(a.Func); err != nil {
			return nil, err
		}
	}
	keys := make([]any, len(elems))
	for i, e := range elems {
		k := e
		if fn != nil {
			var err error
			if k, err = fn.Call(ctx, [][]byte{e}); err != nil {
				return nil, fmt.Errorf("bag topk key %s: %w", a.Func, err)
			}
		}
		if err := msgpack.Unmarshal(k, &keys[i]); err != nil {
			return nil, err
		}
	}
	idx := make([]int, len(elems))
	for i := range idx {
		idx[i] = i
	}
	var cmpErr error
	sort.SliceStable(idx, func(x, y int) bool {
		c, err := compareValues(keys[idx[x]], keys[idx[y]])
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		return c > 0
	})
	if cmpErr != nil {
		return nil, fmt.Errorf("bag topk: %w", cmpErr)
	}
	w := newPartWriter(0)
	for _, i := range idx[:min(a.K, len(idx))] {
		w.add(elems[i])
	}
	return w.finish(), nil
}

// compareValues orders numbers (numerically), strings, bools and times.
func compareValues(a, b any) (int, error) {
	if c, ok := anyval.CompareAny(a, b); ok {
		return c, nil
	}
	return 0, fmt.Errorf("cannot order %T and %T: give TopK a key function returning numbers or strings", a, b)
}

// runSplit hash-splits a partition by key into gs.N buckets: a partition
// whose elements are the buckets (partitions of [key, element] pairs).
func runSplit(ctx context.Context, gs GroupSpec, part futures.RawBytes) (futures.Encoded, error) {
	fn, err := lookup(gs.Func)
	if err != nil {
		return nil, err
	}
	buckets := make([]*partWriter, gs.N)
	for i := range buckets {
		buckets[i] = newPartWriter(len(part) / gs.N)
	}
	h := fnv.New64a()
	var pair []byte
	err = elements(part, func(i int, e []byte) error {
		k, err := fn.Call(ctx, [][]byte{e})
		if err != nil {
			return fmt.Errorf("bag groupby key %s: element %d: %w", gs.Func, i, err)
		}
		if k, err = canonical(k); err != nil {
			return fmt.Errorf("bag groupby key %s: element %d: %w", gs.Func, i, err)
		}
		h.Reset()
		h.Write(k)
		pair = append(append(append(pair[:0], 0x92), k...), e...)
		buckets[h.Sum64()%uint64(gs.N)].add(pair)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := newPartWriter(len(part) + 16*gs.N)
	for _, b := range buckets {
		out.add(b.finish())
	}
	return out.finish(), nil
}

func runPick(j int, split futures.RawBytes) (futures.Encoded, error) {
	var out futures.Encoded
	err := elements(split, func(i int, e []byte) error {
		if i == j {
			out = slices.Clone(e)
		}
		return nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("bag: bucket %d of a split without it", j)
	}
	return out, err
}

// runGroup groups the [key, element] pairs of the picked buckets into
// [key, [elements...]] pairs, keys in order of first appearance.
func runGroup(picks ...futures.RawBytes) (futures.Encoded, error) {
	index := map[string]int{}
	var keys [][]byte
	var vals [][][]byte
	size := 0
	for _, arr := range picks {
		size += len(arr)
		err := elements(arr, func(_ int, e []byte) error {
			kend, err := skipValue(e, 1)
			if err != nil {
				return err
			}
			k := e[1:kend]
			g, ok := index[string(k)]
			if !ok {
				g = len(keys)
				index[string(k)] = g
				keys = append(keys, k)
				vals = append(vals, nil)
			}
			vals[g] = append(vals[g], e[kend:])
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	w := newPartWriter(size + 8*len(keys))
	var buf []byte
	for g, k := range keys {
		buf = appendArrayHeader(append(append(buf[:0], 0x92), k...), len(vals[g]))
		for _, v := range vals[g] {
			buf = append(buf, v...)
		}
		w.add(buf)
	}
	return w.finish(), nil
}
