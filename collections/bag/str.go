package bag

import (
	"bytes"
	"fmt"
)

// StrMethods are Dask's Bag.str: string methods applied to every element
// (a string) in the task itself, without calling a registered function
// per element.
type StrMethods struct{ b *Bag }

// Str gives the string methods of b's elements.
func (b *Bag) Str() StrMethods { return StrMethods{b} }

// Lower lower-cases every element.
func (s StrMethods) Lower() *Bag { return s.b.with(Step{Op: "str.lower"}) }

// Upper upper-cases every element.
func (s StrMethods) Upper() *Bag { return s.b.with(Step{Op: "str.upper"}) }

// Strip removes leading and trailing white space from every element.
func (s StrMethods) Strip() *Bag { return s.b.with(Step{Op: "str.strip"}) }

// Split splits every element into a list of strings: at runs of white
// space, leading and trailing space ignored, when sep is "" (Python's
// str.split()); otherwise at each sep (str.split(sep): "a,,b" gives "a",
// "", "b"). Split().Flatten() (a word list) runs as one step.
func (s StrMethods) Split(sep string) *Bag {
	return s.b.with(Step{Op: "str.split", Key: []byte(sep)})
}

// Flatten replaces every element, a list, by its items.
func (b *Bag) Flatten() *Bag {
	if b.n.err == nil && b.n.step != nil && b.n.step.Op == "str.split" && !b.n.step.Flatten {
		s := *b.n.step
		s.Flatten = true
		return &Bag{n: &node{input: b.n.input, step: &s}, nparts: b.nparts}
	}
	return b.with(Step{Op: "flatten"})
}

// strStep applies a str.* step to element e (index i), writing to w.
func strStep(w *partWriter, s Step, i int, e []byte) error {
	text, ok := strPayload(e)
	if !ok {
		return fmt.Errorf("bag %s: element %d is %s, not a string", s.Op, i, describe(e))
	}
	switch s.Op {
	case "str.lower":
		w.addString(bytes.ToLower(text))
	case "str.upper":
		w.addString(bytes.ToUpper(text))
	case "str.strip":
		w.addString(bytes.TrimSpace(text))
	case "str.split":
		var parts [][]byte
		if len(s.Key) == 0 {
			parts = bytes.Fields(text)
		} else {
			parts = bytes.Split(text, s.Key)
		}
		if s.Flatten {
			for _, p := range parts {
				w.addString(p)
			}
			return nil
		}
		w.buf = appendArrayHeader(w.buf, len(parts))
		for _, p := range parts {
			w.buf = appendStr(w.buf, p)
		}
		w.n++
	}
	return nil
}
