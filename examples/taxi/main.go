// Command taxi is the DataFrame tutorial on NYC taxi trips in Parquet: how
// much memory do the columns take, and how are payment types and passenger
// counts distributed?
//
// It generates trips shaped like the NYC yellow-cab records (pickup time,
// passenger_count with some missing, trip_distance, payment_type as
// strings "CRD", "CSH", ..., fare_amount, tip_amount; seeded), puts them in
// the mesh with dataframe.FromArrow and writes them as Parquet files with
// ToParquet (written by the workers that hold the partitions). Then, as
//
//	df = dd.read_parquet("trips/")
//	df.memory_usage(deep=True)
//	df.payment_type.value_counts()
//	df.passenger_count.value_counts()
//
// it reads them back with ReadParquet and asks the mesh the same. It runs
// on an in-process mesh of -nodes nodes, or on a running mesh with -connect
// ADDR -secret-file FILE (give -data a directory every node can read and
// write at the same path). No registered functions are needed.
//
//	go run ./examples/taxi -rows 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meshcompute/mesh/collections/dataframe"
	"github.com/meshcompute/mesh/examples/internal/exmesh"
	"github.com/meshcompute/mesh/futures"
)

type config struct {
	Mesh     exmesh.Mesh
	Data     string // directory of the Parquet files; empty: a temporary one
	Keep     bool
	Rows     int
	PartRows int64 // rows per partition, so per Parquet file
	Seed     uint64
}

// count is a row of a value_counts answer.
type count struct {
	Value string // the value as text ("NA" never appears: value_counts drops it)
	Count int64
}

type result struct {
	Files         []string
	Rows          int64
	Memory        map[string]int64 // deep
	MemoryShallow map[string]int64
	Payment       []count
	Passengers    []count
}

var payments = []string{"CRD", "CSH", "NOC", "DIS", "UNK"}

// trips generates rows trips as one Arrow record batch (seeded).
func trips(rows int, seed uint64) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(seed, 0x74617869))
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "tpep_pickup_datetime", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "passenger_count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "trip_distance", Type: arrow.PrimitiveTypes.Float64},
		{Name: "payment_type", Type: arrow.BinaryTypes.String},
		{Name: "fare_amount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "tip_amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	pickup := b.Field(0).(*array.TimestampBuilder)
	pass := b.Field(1).(*array.Int64Builder)
	dist := b.Field(2).(*array.Float64Builder)
	pay := b.Field(3).(*array.StringBuilder)
	fare := b.Field(4).(*array.Float64Builder)
	tip := b.Field(5).(*array.Float64Builder)
	t0 := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	passengerWeights := []float64{0.01, 0.70, 0.14, 0.04, 0.02, 0.05, 0.03, 0.01} // 0..7 passengers
	for i := range rows {
		pickup.Append(arrow.Timestamp(t0 + int64(i)*1_800_000 + r.Int64N(1_800_000)))
		if r.IntN(100) == 0 {
			pass.AppendNull() // missing, as in the real records
		} else {
			u, n := r.Float64(), 0
			for n < len(passengerWeights)-1 && u > passengerWeights[n] {
				u -= passengerWeights[n]
				n++
			}
			pass.Append(int64(n))
		}
		d := math.Round(r.ExpFloat64()*2.8*100) / 100
		dist.Append(d)
		var p string
		switch u := r.Float64(); {
		case u < 0.62:
			p = payments[0]
		case u < 0.97:
			p = payments[1]
		case u < 0.985:
			p = payments[2]
		case u < 0.995:
			p = payments[3]
		default:
			p = payments[4]
		}
		pay.Append(p)
		f := math.Round((2.5+d*2.5+r.Float64()*3)*2) / 2
		fare.Append(f)
		if p == "CRD" {
			tip.Append(math.Round(f*(0.1+0.15*r.Float64())*100) / 100)
		} else {
			tip.Append(0)
		}
	}
	return b.NewRecordBatch()
}

func run(ctx context.Context, cfg config, out io.Writer) (*result, error) {
	dir, cleanup, err := exmesh.DataDir(cfg.Data, "mesh-taxi-*", cfg.Keep)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	c, closeMesh, err := cfg.Mesh.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeMesh()

	res := &result{}
	if res.Files, _ = filepath.Glob(filepath.Join(dir, "*.parquet")); len(res.Files) == 0 {
		start := time.Now()
		rec := trips(cfg.Rows, cfg.Seed)
		tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
		rec.Release()
		df, err := dataframe.FromArrow(ctx, c, tbl, dataframe.RowsPerPartition(cfg.PartRows))
		tbl.Release()
		if err != nil {
			return nil, fmt.Errorf("put the trips in the mesh: %w", err)
		}
		res.Files, err = df.ToParquet(ctx, c, dir, dataframe.Compression("zstd"))
		if rerr := df.Release(ctx, c); err == nil && rerr != nil {
			err = rerr
		}
		if err != nil {
			return nil, fmt.Errorf("write parquet: %w", err)
		}
		fmt.Fprintf(out, "wrote %d trips to %d Parquet files in %s (%v)\n", cfg.Rows, len(res.Files), dir, time.Since(start).Round(time.Millisecond))
	}

	start := time.Now()
	df, err := dataframe.ReadParquet(dir)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	if res.Rows, err = df.Len(ctx, c); err != nil {
		return nil, fmt.Errorf("len: %w", err)
	}
	if res.Memory, err = df.MemoryUsage(ctx, c, true); err != nil {
		return nil, fmt.Errorf("memory usage: %w", err)
	}
	if res.MemoryShallow, err = df.MemoryUsage(ctx, c, false); err != nil {
		return nil, fmt.Errorf("memory usage: %w", err)
	}
	fmt.Fprintf(out, "%d trips in %d partitions; memory usage (deep / shallow):\n", res.Rows, df.NPartitions())
	cols := df.Columns()
	var total int64
	for _, col := range cols {
		fmt.Fprintf(out, "  %-22s %12d %12d\n", col, res.Memory[col], res.MemoryShallow[col])
		total += res.Memory[col]
	}
	fmt.Fprintf(out, "  %-22s %12d\n", "total", total)

	if res.Payment, err = valueCounts(ctx, c, df, "payment_type"); err != nil {
		return nil, err
	}
	if res.Passengers, err = valueCounts(ctx, c, df, "passenger_count"); err != nil {
		return nil, err
	}
	for _, vc := range []struct {
		name string
		rows []count
	}{{"payment_type", res.Payment}, {"passenger_count", res.Passengers}} {
		fmt.Fprintf(out, "%s value counts:\n", vc.name)
		for _, r := range vc.rows {
			fmt.Fprintf(out, "  %-6s %9d\n", r.Value, r.Count)
		}
	}
	fmt.Fprintf(out, "done in %v\n", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// valueCounts is df[col].value_counts(), most frequent first.
func valueCounts(ctx context.Context, c *futures.Client, df *dataframe.DataFrame, col string) ([]count, error) {
	rec, err := df.ValueCounts(col).ComputeRecord(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("value counts of %s: %w", col, err)
	}
	defer rec.Release()
	vals := rec.Column(0)
	n, ok := rec.Column(1).(*array.Int64)
	if !ok {
		return nil, fmt.Errorf("value counts of %s: unexpected schema %v", col, rec.Schema())
	}
	out := make([]count, rec.NumRows())
	for i := range out {
		out[i] = count{Value: vals.ValueStr(i), Count: n.Value(i)}
	}
	return out, nil
}

func main() {
	var cfg config
	fs := flag.CommandLine
	cfg.Mesh.AddFlags(fs)
	fs.StringVar(&cfg.Data, "data", "", "directory of the Parquet files (generated there if it has none; default: a temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary data directory")
	fs.IntVar(&cfg.Rows, "rows", 500_000, "trips to generate")
	fs.Int64Var(&cfg.PartRows, "part-rows", 100_000, "rows per partition (and Parquet file) when generating")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "generator seed")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		exmesh.Fail("taxi", err)
	}
}
