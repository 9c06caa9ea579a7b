package dbbench

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// WriteAnswer writes rec as the fixtures' answers are written: a header
// row, NA as an empty field, floats in their shortest form.
func WriteAnswer(w io.Writer, rec arrow.RecordBatch) error {
	cw := csv.NewWriter(w)
	header := make([]string, rec.NumCols())
	for i, f := range rec.Schema().Fields() {
		header[i] = f.Name
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	row := make([]string, rec.NumCols())
	for r := range int(rec.NumRows()) {
		for c := range row {
			s, err := cell(rec.Column(c), r)
			if err != nil {
				return fmt.Errorf("column %q: %w", header[c], err)
			}
			row[c] = s
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func cell(a arrow.Array, r int) (string, error) {
	if a.IsNull(r) {
		return "", nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return strconv.FormatInt(a.Value(r), 10), nil
	case *array.Float64:
		return formatFloat(a.Value(r)), nil
	case *array.String:
		return a.Value(r), nil
	case *array.LargeString:
		return a.Value(r), nil
	case *array.Boolean:
		return strconv.FormatBool(a.Value(r)), nil
	}
	return a.ValueStr(r), nil
}

func formatFloat(v float64) string {
	if math.IsNaN(v) {
		return "nan" // as DuckDB writes it
	}
	if v != 0 && math.Abs(v) < 1e-6 {
		return strconv.FormatFloat(v, 'e', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// CompareAnswers checks got against want (both in the answer format): the
// same header, the same rows in the same order, equal fields, numbers
// within a relative tolerance of 1e-9. The error names the first
// difference.
func CompareAnswers(got, want []byte) error {
	g, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil {
		return fmt.Errorf("our answer: %w", err)
	}
	w, err := csv.NewReader(bytes.NewReader(want)).ReadAll()
	if err != nil {
		return fmt.Errorf("the expected answer: %w", err)
	}
	if len(g) == 0 || len(w) == 0 {
		return fmt.Errorf("empty answer (ours %d lines, expected %d)", len(g), len(w))
	}
	if fmt.Sprint(g[0]) != fmt.Sprint(w[0]) {
		return fmt.Errorf("header %v, want %v", g[0], w[0])
	}
	if len(g) != len(w) {
		return fmt.Errorf("%d rows, want %d", len(g)-1, len(w)-1)
	}
	for i := 1; i < len(w); i++ {
		for j := range w[i] {
			if !sameField(g[i][j], w[i][j]) {
				return fmt.Errorf("row %d (%v), column %s: %q, want %q", i, w[i], w[0][j], g[i][j], w[i][j])
			}
		}
	}
	return nil
}

func sameField(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	d := math.Abs(x - y)
	return d <= 1e-9*math.Max(math.Abs(x), math.Abs(y)) || d < 1e-12
}
