package main

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/meshcompute/mesh/examples/internal/extest"
)

func TestMain(m *testing.M) { extest.Main(m) }

func TestTaxiParquet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config{Mesh: extest.Mesh(t), Data: t.TempDir(), Rows: 20_000, PartRows: 6_000, Seed: 5}
	var out bytes.Buffer
	res, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())

	// The same trips, counted with plain loops.
	rec := trips(cfg.Rows, cfg.Seed)
	defer rec.Release()
	pass := rec.Column(1).(*array.Int64)
	pay := rec.Column(3).(*array.String)
	wantPay, wantPass := map[string]int64{}, map[string]int64{}
	var chars int64
	for i := range cfg.Rows {
		wantPay[pay.Value(i)]++
		chars += int64(len(pay.Value(i)))
		if pass.IsValid(i) {
			wantPass[strconv.FormatInt(pass.Value(i), 10)]++
		}
	}
	if wantParts := (cfg.Rows + int(cfg.PartRows) - 1) / int(cfg.PartRows); len(res.Files) != wantParts {
		t.Errorf("%d Parquet files, want %d (one per partition of %d rows)", len(res.Files), wantParts, cfg.PartRows)
	}
	if res.Rows != int64(cfg.Rows) {
		t.Errorf("read %d rows, wrote %d", res.Rows, cfg.Rows)
	}
	checkCounts(t, "payment_type", res.Payment, wantPay)
	checkCounts(t, "passenger_count", res.Passengers, wantPass)
	if pass.NullN() == 0 {
		t.Error("the generator made no missing passenger counts")
	}

	// memory_usage: 8 bytes a value for the fixed-width columns (plus a
	// validity bitmap and padding per partition); deep adds exactly the
	// strings' characters.
	rows, parts := int64(cfg.Rows), int64(len(res.Files))
	for _, col := range []string{"tpep_pickup_datetime", "passenger_count", "trip_distance", "fare_amount", "tip_amount"} {
		if m := res.Memory[col]; m < 8*rows || m > 8*rows+rows/8+parts*128 {
			t.Errorf("memory of %s: %d bytes, want 8×%d plus at most a bitmap and padding", col, m, rows)
		}
		if res.Memory[col] != res.MemoryShallow[col] {
			t.Errorf("memory of %s: deep %d, shallow %d: want equal", col, res.Memory[col], res.MemoryShallow[col])
		}
	}
	if d := res.Memory["payment_type"] - res.MemoryShallow["payment_type"]; d != chars {
		t.Errorf("payment_type: deep - shallow = %d bytes, the strings have %d characters", d, chars)
	}
	if s := res.MemoryShallow["payment_type"]; s < 4*(rows+parts) {
		t.Errorf("payment_type shallow %d bytes, less than its offsets (%d)", s, 4*(rows+parts))
	}
}

// checkCounts compares value counts with a plain count, most frequent
// first.
func checkCounts(t *testing.T, name string, got []count, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values %v, want %d %v", name, len(got), got, len(want), want)
	}
	for i, g := range got {
		if want[g.Value] != g.Count {
			t.Errorf("%s: %q counted %d, want %d", name, g.Value, g.Count, want[g.Value])
		}
		if i > 0 && got[i-1].Count < g.Count {
			t.Errorf("%s: not most frequent first: %v", name, got)
		}
	}
}
