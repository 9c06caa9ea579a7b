package dataframe

import (
	"errors"
	"fmt"
	"slices"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
)

// JoinType is the kind of a join: which unmatched rows it keeps.
type JoinType string

const (
	Inner JoinType = "inner" // matching rows only
	Left  JoinType = "left"  // and the left side's unmatched rows (right columns NA)
	Right JoinType = "right" // and the right side's unmatched rows (left columns NA)
	Outer JoinType = "outer" // and both sides' unmatched rows
)

// ErrJoin: a join's options or keys are wrong (unknown key column, key
// counts or types that do not match, ...). Join's errors wrap it.
var ErrJoin = errors.New("join")

// JoinOption configures Join.
type JoinOption func(*joinOpts)

type joinOpts struct {
	on, leftOn, rightOn []string
	how                 JoinType
	suffixes            [2]string
	broadcast           bool
	shuffle             int // > 0: shuffle into this many partitions; -1: shuffle, default count
	broadcastLimit      int
}

// On joins on key columns named alike on both sides: each appears once in
// the result (for outer joins, the value from whichever side has one).
func On(keys ...string) JoinOption { return func(o *joinOpts) { o.on = keys } }

// LeftOn and RightOn join on key columns named differently on the two
// sides, pairwise (LeftOn(a, b), RightOn(c, d): a = c and b = d); both
// sides' key columns are kept.
func LeftOn(keys ...string) JoinOption  { return func(o *joinOpts) { o.leftOn = keys } }
func RightOn(keys ...string) JoinOption { return func(o *joinOpts) { o.rightOn = keys } }

// How sets the kind of join (default Inner).
func How(how JoinType) JoinOption { return func(o *joinOpts) { o.how = how } }

// Suffixes are appended to the names of non-key columns that both sides
// have: left to the left side's, right to the right side's (default "_x",
// "_y", as pandas' merge; "" leaves that side's names as they are).
func Suffixes(left, right string) JoinOption {
	return func(o *joinOpts) { o.suffixes = [2]string{left, right} }
}

// Broadcast makes the join send one whole side to every partition of the
// other, whatever its number of partitions: the right side for left joins,
// the left side for right joins, for inner joins the side with fewer
// partitions (the right one on a tie). Sending the right side to several
// left partitions would repeat its unmatched rows, so a right or outer
// join can broadcast the right side only to a left side of one partition
// (one task), and the same the other way round; an outer join of two
// sides of several partitions cannot be broadcast (Join returns an error).
// Shuffle or Broadcast, whichever comes last, wins.
func Broadcast() JoinOption { return func(o *joinOpts) { o.broadcast, o.shuffle = true, 0 } }

// Shuffle makes the join hash-partition both sides by their keys into n
// partitions and join them partition by partition (n ≤ 0: as many as the
// side with more partitions).
func Shuffle(n int) JoinOption {
	return func(o *joinOpts) {
		o.shuffle, o.broadcast = n, false
		if n <= 0 {
			o.shuffle = -1
		}
	}
}

// BroadcastLimit: without Broadcast or Shuffle, a side of at most n
// partitions (default 1) is broadcast when the join allows it (see Join);
// otherwise the join is shuffled.
func BroadcastLimit(n int) JoinOption { return func(o *joinOpts) { o.broadcastLimit = n } }

// Join joins df (the left side) with right: a row for every pair of rows
// whose keys are equal (all of them, with several keys), plus, as How
// asks, the unmatched rows of one or both sides with the other side's
// columns NA. NA keys never match (SQL's semantics, as DuckDB; pandas
// would match NA with NA). Key columns must have the same types on both
// sides.
//
// Columns: the left side's, then the right side's; a key joined by On
// appears once; other names on both sides get Suffixes. Rows come in no
// particular order.
//
// Strategy: when a side that may be broadcast (the right side of an inner
// or left join, the left side of an inner or right join, either side when
// the other is one partition; of two, the one with fewer partitions) has
// at most BroadcastLimit partitions (default 1), every partition of the
// other side is joined with all of it, one task each; otherwise both sides
// are hash-shuffled by their keys into as many partitions as the larger
// side has, and joined bucket by bucket. Broadcast and Shuffle force
// either. Steps after the join (Select, Filter, a group-by's partial
// aggregation, Len) run in the join's tasks, which gather only the columns
// those steps need and read or shuffle only their sources (and the keys).
//
// The options and keys are checked here, against the columns (and their
// types, where the plan knows them: after ReadCSV, Select, Rename, Filter,
// Persist, group-by keys, joins); the error wraps ErrJoin.
//
//	j, err := x.Join(small, On("id1"))                      // inner join
//	j, err := x.Join(medium, On("id2"), How(Left), Suffixes("", "_r"))
//	j, err := a.Join(b, LeftOn("k1", "k2"), RightOn("key1", "key2"), How(Outer), Shuffle(8))
func (df *DataFrame) Join(right *DataFrame, opts ...JoinOption) (*DataFrame, error) {
	o := joinOpts{how: Inner, suffixes: [2]string{"_x", "_y"}, broadcastLimit: 1}
	for _, opt := range opts {
		opt(&o)
	}
	fail := func(format string, args ...any) (*DataFrame, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrJoin}, args...)...)
	}
	if right == nil {
		return fail("no right side")
	}
	switch o.how {
	case Inner, Left, Right, Outer:
	default:
		return fail("unknown join type %q (want inner, left, right or outer)", o.how)
	}
	leftOn, rightOn := o.leftOn, o.rightOn
	switch {
	case len(o.on) > 0 && (len(leftOn) > 0 || len(rightOn) > 0):
		return fail("give the keys with On, or with LeftOn and RightOn, not both")
	case len(o.on) > 0:
		leftOn, rightOn = o.on, o.on
	case len(leftOn) == 0 && len(rightOn) == 0:
		return fail("no key columns (On, or LeftOn and RightOn)")
	case len(leftOn) != len(rightOn):
		return fail("%d left keys %v but %d right keys %v", len(leftOn), leftOn, len(rightOn), rightOn)
	}
	for i := range leftOn {
		if !slices.Contains(df.columns, leftOn[i]) {
			return fail("no key column %q on the left (columns: %v)", leftOn[i], df.columns)
		}
		if !slices.Contains(right.columns, rightOn[i]) {
			return fail("no key column %q on the right (columns: %v)", rightOn[i], right.columns)
		}
		lt, rt := df.typeOf(leftOn[i]), right.typeOf(rightOn[i])
		if lt != "" && rt != "" && lt != rt {
			return fail("key %q is %s on the left but %q is %s on the right (cast one side first, e.g. WithColumn(%q, Col(%q).Cast(%q)))",
				leftOn[i], lt, rightOn[i], rt, rightOn[i], rightOn[i], lt)
		}
	}
	layout, cols, types := joinColumns(df, right, leftOn, rightOn, o.suffixes)
	for i, c := range cols {
		if slices.Contains(cols[:i], c) {
			return fail("the result would have column %q twice (choose other Suffixes than %q, %q)", c, o.suffixes[0], o.suffixes[1])
		}
	}

	// Strategy. Broadcasting the right side means one task per left
	// partition, each joining it with the whole right side: unmatched right
	// rows would come out of every task, so only inner and left joins may,
	// or any join when the left side is one partition (one task). The same
	// the other way round.
	nl, nr := df.nparts, right.nparts
	canRight := o.how == Inner || o.how == Left || nl <= 1
	canLeft := o.how == Inner || o.how == Right || nr <= 1
	choose := func(right, left bool) joinStrategy {
		switch {
		case right && left && nl < nr:
			return broadcastLeft
		case right:
			return broadcastRight
		case left:
			return broadcastLeft
		}
		return shuffleJoin
	}
	var strategy joinStrategy
	switch {
	case o.shuffle != 0:
		strategy = shuffleJoin
	case o.broadcast:
		if strategy = choose(canRight, canLeft); strategy == shuffleJoin {
			return fail("an outer join of two sides of several partitions (%d and %d) cannot be broadcast without repeating unmatched rows; use Shuffle", nl, nr)
		}
	default:
		strategy = choose(canRight && nr <= o.broadcastLimit, canLeft && nl <= o.broadcastLimit)
	}
	n := 0
	switch strategy {
	case broadcastRight:
		n = nl
	case broadcastLeft:
		n = nr
	case shuffleJoin:
		n = o.shuffle
		if n <= 0 {
			n = max(nl, nr, 1)
		}
	}
	j := &joinNode{left: df.plan, right: right.plan, leftOn: slices.Clone(leftOn), rightOn: slices.Clone(rightOn),
		how: o.how, layout: layout, strategy: strategy, n: n}
	return &DataFrame{plan: &node{join: j}, columns: cols, types: types, nparts: n}, nil
}

// joinColumns are a join's result columns and their types, as
// kernels.HashJoin makes them.
func joinColumns(l, r *DataFrame, leftOn, rightOn []string, suffixes [2]string) ([]kernels.JoinColumn, []string, []string) {
	layout := kernels.JoinLayout(l.columns, r.columns, leftOn, rightOn, suffixes)
	cols := make([]string, len(layout))
	types := make([]string, len(layout))
	for i, c := range layout {
		cols[i] = c.Name
		if c.Left != "" {
			types[i] = l.typeOf(c.Left)
		} else {
			types[i] = r.typeOf(c.Right)
		}
	}
	return layout, cols, types
}
