package funcs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// registry is the process-wide table of task functions. It is the one piece
// of global mutable state in the package.
var registry struct {
	mu    sync.RWMutex
	funcs map[string]*Func
}

// Register registers fn under name so that any node running this binary can
// call it by name. It is meant to be called from init functions (normally
// through futures.Register), and it panics with a message naming the function
// and the violated rule if:
//
//   - name is empty;
//   - fn is nil or not a func;
//   - fn's signature is not
//     func([context.Context,] A1, A2, ...[, ...V]) (R) | (R, error) | (error);
//   - a parameter or result type cannot be handled by msgpack (chan, func,
//     complex, unsafe.Pointer, or a non-empty interface as a parameter);
//   - name is already registered with a different function.
//
// Registering the same function under the same name again is a no-op. "The
// same function" means the same func type and code pointer, so two closures
// from one function literal count as the same.
func Register(name string, fn any) {
	if name == "" {
		panic(fmt.Sprintf("funcs.Register(%q): name must not be empty", name))
	}
	f, err := newFunc(name, fn)
	if err != nil {
		panic(fmt.Sprintf("funcs.Register(%q): %v; valid signatures are %s", name, err, validShape))
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if old, ok := registry.funcs[name]; ok {
		if old.typ == f.typ && old.fn.Pointer() == f.fn.Pointer() {
			return
		}
		panic(fmt.Sprintf("funcs.Register(%q): duplicate name: already registered as %s, cannot register %s; each name must be registered once per binary",
			name, old.sig, f.sig))
	}
	if registry.funcs == nil {
		registry.funcs = make(map[string]*Func)
	}
	registry.funcs[name] = f
}

// Lookup returns the function registered under name. For an unknown name it
// returns an error wrapping ErrUnknownFunc that suggests close registered
// names, if any, and says how to register the function.
func Lookup(name string) (*Func, error) {
	registry.mu.RLock()
	f, ok := registry.funcs[name]
	registry.mu.RUnlock()
	if ok {
		return f, nil
	}
	return nil, unknownFunc(name)
}

// Names returns the registered names in sorted order.
func Names() []string {
	registry.mu.RLock()
	names := make([]string, 0, len(registry.funcs))
	for n := range registry.funcs {
		names = append(names, n)
	}
	registry.mu.RUnlock()
	slices.Sort(names)
	return names
}

// resetForTest empties the registry. Tests only.
func resetForTest() {
	registry.mu.Lock()
	registry.funcs = nil
	registry.mu.Unlock()
}

// unregisterForTest removes one name. Tests only.
func unregisterForTest(name string) {
	registry.mu.Lock()
	delete(registry.funcs, name)
	registry.mu.Unlock()
}

func unknownFunc(name string) error {
	names := Names()
	var b strings.Builder
	fmt.Fprintf(&b, "unknown function %q: it is not registered in this binary", name)
	if sugg := suggest(name, names, 3); len(sugg) > 0 {
		b.WriteString(" (did you mean ")
		for i, s := range sugg {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", s)
		}
		b.WriteString("?)")
	} else if len(names) == 0 {
		b.WriteString(" (no functions are registered)")
	}
	b.WriteString("; register it with futures.Register in an init function of every node's binary, and run the same binary on every node")
	return &kindError{kind: ErrUnknownFunc, msg: b.String()}
}

// suggest returns up to max names close to name: those sharing a prefix of
// at least 3 characters with it (case-insensitively) or within an edit
// distance (with transpositions) of about a third of its length. Closest first.
func suggest(name string, names []string, max int) []string {
	type cand struct {
		name string
		dist int
	}
	lname := strings.ToLower(name)
	limit := len([]rune(name)) / 3
	if limit < 1 {
		limit = 1
	}
	var cands []cand
	for _, n := range names {
		ln := strings.ToLower(n)
		d := editDistance(lname, ln)
		prefix := len(lname) >= 3 && len(ln) >= 3 &&
			(strings.HasPrefix(ln, lname) || strings.HasPrefix(lname, ln))
		if d <= limit || prefix {
			cands = append(cands, cand{n, d})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.name, b.name))
	})
	out := make([]string, 0, max)
	for _, c := range cands {
		if len(out) == max {
			break
		}
		out = append(out, c.name)
	}
	return out
}

// editDistance is the optimal-string-alignment distance between a and b
// (Levenshtein plus transposition of adjacent runes), over runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows: i-2, i-1, i.
	pp := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[len(rb)]
}
