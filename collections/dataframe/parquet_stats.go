package dataframe

import (
	"cmp"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// Row-group skipping. A row group is skipped only when its statistics
// prove that a leading filter is false or NA on every row; anything this
// code does not understand (an expression, a type, missing statistics)
// keeps the row group. The filters still run on what is read, so results
// never depend on statistics.

// colStats are one column's statistics in one row group.
type colStats struct {
	kind       byte // 'i' int64, 'f' float64, 's' string, 't' timestamp (µs); 0: no min/max
	imin, imax int64
	fmin, fmax float64
	smin, smax string
	nulls      int64 // -1: unknown
}

// rowGroupStats reads the usable statistics of a flat file's row group
// (column i is field i of sc, the file's Arrow schema as stored).
func rowGroupStats(rg *metadata.RowGroupMetaData, sc *arrow.Schema) map[string]colStats {
	out := map[string]colStats{}
	for i, f := range sc.Fields() {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			continue
		}
		st, err := cc.Statistics()
		if err != nil || st == nil {
			continue
		}
		cs := colStats{nulls: -1}
		if st.HasNullCount() {
			cs.nulls = st.NullCount()
		}
		if st.HasMinMax() {
			setMinMax(&cs, st, f.Type)
		}
		out[f.Name] = cs
	}
	return out
}

func setMinMax(cs *colStats, st metadata.TypedStatistics, t arrow.DataType) {
	switch s := st.(type) {
	case *metadata.Int32Statistics:
		switch t.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32:
			cs.kind, cs.imin, cs.imax = 'i', int64(s.Min()), int64(s.Max())
		}
	case *metadata.Int64Statistics:
		switch t.ID() {
		case arrow.INT64:
			cs.kind, cs.imin, cs.imax = 'i', s.Min(), s.Max()
		case arrow.TIMESTAMP:
			lo, hi, ok := toMicros(s.Min(), s.Max(), t.(*arrow.TimestampType).Unit)
			if ok {
				cs.kind, cs.imin, cs.imax = 't', lo, hi
			}
		}
	case *metadata.Float32Statistics:
		if t.ID() == arrow.FLOAT32 && !math.IsNaN(float64(s.Min())) && !math.IsNaN(float64(s.Max())) {
			cs.kind, cs.fmin, cs.fmax = 'f', float64(s.Min()), float64(s.Max())
		}
	case *metadata.Float64Statistics:
		if t.ID() == arrow.FLOAT64 && !math.IsNaN(s.Min()) && !math.IsNaN(s.Max()) {
			cs.kind, cs.fmin, cs.fmax = 'f', s.Min(), s.Max()
		}
	case *metadata.ByteArrayStatistics:
		switch t.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			cs.kind, cs.smin, cs.smax = 's', string(s.Min()), string(s.Max())
		}
	}
}

// toMicros converts a timestamp range to microseconds, widening it when
// the unit is finer.
func toMicros(lo, hi int64, u arrow.TimeUnit) (int64, int64, bool) {
	switch u {
	case arrow.Second:
		if lo < math.MinInt64/1_000_000 || hi > math.MaxInt64/1_000_000 {
			return 0, 0, false
		}
		return lo * 1_000_000, hi * 1_000_000, true
	case arrow.Millisecond:
		if lo < math.MinInt64/1000 || hi > math.MaxInt64/1000 {
			return 0, 0, false
		}
		return lo * 1000, hi * 1000, true
	case arrow.Microsecond:
		return lo, hi, true
	case arrow.Nanosecond:
		l, h := lo/1000, hi/1000
		if lo%1000 < 0 {
			l--
		}
		if hi%1000 > 0 {
			h++
		}
		return l, h, true
	}
	return 0, 0, false
}

// mayMatchAll: every filter may hold on some row of the row group.
func mayMatchAll(filters []Expr, g rowGroupInfo) bool {
	for _, f := range filters {
		if !mayMatch(f, g) {
			return false
		}
	}
	return true
}

// flipped is the comparison with its operands swapped (lit < col is
// col > lit).
var flipped = map[string]string{"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}

// mayMatch is false only when the statistics prove that e is false or NA
// on every row of the row group.
func mayMatch(e Expr, g rowGroupInfo) bool {
	if g.stats == nil {
		return true
	}
	switch e.Op {
	case "and":
		return len(e.Args) != 2 || (mayMatch(e.Args[0], g) && mayMatch(e.Args[1], g))
	case "or":
		return len(e.Args) != 2 || mayMatch(e.Args[0], g) || mayMatch(e.Args[1], g)
	case "eq", "ne", "lt", "le", "gt", "ge":
	default:
		return true
	}
	if len(e.Args) != 2 {
		return true
	}
	op, col, lit := e.Op, e.Args[0], e.Args[1]
	if col.Op == "lit" && lit.Op == "col" {
		op, col, lit = flipped[op], lit, col
	}
	if col.Op != "col" || lit.Op != "lit" || lit.Kind == "null" {
		return true
	}
	cs, ok := g.stats[col.Col]
	if !ok {
		return true
	}
	if cs.nulls >= 0 && cs.nulls >= g.rows {
		return false // every value is NA: every comparison is NA
	}
	switch cs.kind {
	case 'i':
		switch lit.Kind {
		case "int64":
			return inRange(op, cs.imin, cs.imax, lit.I)
		case "float64":
			return inRange(op, float64(cs.imin), float64(cs.imax), lit.F)
		}
	case 'f':
		if op == "ne" {
			return true // NaN != x holds, and NaN is not in the statistics
		}
		switch lit.Kind {
		case "int64":
			return inRange(op, cs.fmin, cs.fmax, float64(lit.I))
		case "float64":
			return !math.IsNaN(lit.F) && inRange(op, cs.fmin, cs.fmax, lit.F)
		}
	case 's':
		if lit.Kind == "string" {
			return inRange(op, cs.smin, cs.smax, lit.S)
		}
	case 't':
		if lit.Kind == "timestamp" {
			return inRange(op, cs.imin, cs.imax, lit.I)
		}
	}
	return true
}

// inRange: some value v in [lo, hi] may satisfy v op x.
func inRange[T cmp.Ordered](op string, lo, hi, x T) bool {
	switch op {
	case "eq":
		return x >= lo && x <= hi
	case "ne":
		return !(lo == hi && lo == x)
	case "lt":
		return lo < x
	case "le":
		return lo <= x
	case "gt":
		return hi > x
	case "ge":
		return hi >= x
	}
	return true
}
