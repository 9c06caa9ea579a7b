package bag

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/futures"
)

// fanIn is how many partials one combine task reads.
const fanIn = 8

// builder turns a plan into one futures.Graph: a task per partition per
// step (the optimizer fuses each partition's chain of steps into one
// task), reductions as trees, group-bys as split/pick/group shuffles.
type builder struct {
	g    *futures.Graph
	memo map[*node][]futures.Ref
}

func newBuilder() *builder {
	return &builder{g: futures.NewGraph(), memo: map[*node][]futures.Ref{}}
}

func (b *builder) add(fn string, args ...any) (futures.Ref, error) {
	r, err := b.g.Add(fn, args...)
	if err != nil {
		return r, fmt.Errorf("bag: %w", err)
	}
	return r, nil
}

func (b *builder) parts(n *node) ([]futures.Ref, error) {
	if refs, ok := b.memo[n]; ok {
		return refs, nil
	}
	if n.err != nil {
		return nil, n.err
	}
	var refs []futures.Ref
	var err error
	switch {
	case n.text != nil:
		refs = make([]futures.Ref, len(n.text))
		for i, p := range n.text {
			if refs[i], err = b.add(textFunc, p); err != nil {
				return nil, err
			}
		}
	case n.lits != nil:
		refs = make([]futures.Ref, len(n.lits))
		for i, l := range n.lits {
			if refs[i], err = b.add(litFunc, msgpack.RawMessage(l)); err != nil {
				return nil, err
			}
		}
	case n.held != nil:
		// An identity task per held partition gives it a ref (and is
		// fused into the first step that reads it).
		refs = make([]futures.Ref, len(n.held))
		for i, f := range n.held {
			if refs[i], err = b.add(litFunc, f); err != nil {
				return nil, err
			}
		}
	case n.step != nil:
		refs, err = b.step(n)
	case n.agg != nil:
		refs, err = b.reduce(n)
	case n.group != nil:
		refs, err = b.groupBy(n)
	default:
		err = fmt.Errorf("bag: empty plan node")
	}
	if err != nil {
		return nil, err
	}
	b.memo[n] = refs
	return refs, nil
}

// origins are the text parts whose lines the elements of n's partitions
// are, one for one, or nil.
func origins(n *node) []TextPart {
	switch {
	case n.text != nil:
		return n.text
	case n.step != nil && (n.step.Op == "map" || n.step.Op == "str.lower" || n.step.Op == "str.upper" || n.step.Op == "str.strip"):
		return origins(n.input) // one element per element
	}
	return nil
}

func (b *builder) step(n *node) ([]futures.Ref, error) {
	in, err := b.parts(n.input)
	if err != nil {
		return nil, err
	}
	var orig []TextPart
	if n.step.Op == "json" {
		orig = origins(n.input)
	}
	out := make([]futures.Ref, len(in))
	for i, r := range in {
		s := *n.step
		if s.Op == "json" {
			s.Part = i
			if orig != nil {
				s.Origin = &orig[i]
			}
		}
		if out[i], err = b.add(stepFunc, s, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *builder) reduce(n *node) ([]futures.Ref, error) {
	in, err := b.parts(n.input)
	if err != nil {
		return nil, err
	}
	a := *n.agg
	level := make([]futures.Ref, len(in))
	for i, r := range in {
		if level[i], err = b.add(partialFunc, a, r); err != nil {
			return nil, err
		}
	}
	// At least one combine, even over one partial: it finishes the value
	// (a reduction's aggregate, a fold's combine).
	for first := true; first || len(level) > 1; first = false {
		var next []futures.Ref
		for i := 0; i < len(level); i += fanIn {
			args := []any{a}
			for _, r := range level[i:min(i+fanIn, len(level))] {
				args = append(args, r)
			}
			r, err := b.add(combineFunc, args...)
			if err != nil {
				return nil, err
			}
			next = append(next, r)
		}
		level = next
	}
	if a.Op == "fold" {
		r, err := b.add(foldResultFunc, a, level[0])
		if err != nil {
			return nil, err
		}
		level[0] = r
	}
	return level, nil
}

func (b *builder) groupBy(n *node) ([]futures.Ref, error) {
	in, err := b.parts(n.input)
	if err != nil {
		return nil, err
	}
	gs := *n.group
	splits := make([]futures.Ref, len(in))
	for i, r := range in {
		if splits[i], err = b.add(splitFunc, gs, r); err != nil {
			return nil, err
		}
	}
	out := make([]futures.Ref, gs.N)
	for j := range gs.N {
		args := make([]any, 0, len(splits))
		for _, s := range splits {
			p, err := b.add(pickFunc, j, s)
			if err != nil {
				return nil, err
			}
			args = append(args, p)
		}
		if out[j], err = b.add(groupFunc, args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}
