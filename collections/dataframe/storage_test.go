package dataframe

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/collections/storage/storagetest"
	"github.com/meshcompute/mesh/collections/storage/storagetest/fakegcs"
)

// Object stores end to end, on a 2-node mesh: the fixture's Parquet files
// and CSV (plain and gzip) put into an S3-compatible server (moto) with
// the SDK, read with ReadParquet / ReadCSV from s3:// URLs (row-group and
// byte-range partitions read by the workers), and the answers compared
// with the same data read from local files; then ToParquet / ToCSV to
// s3:// and gs:// (fake-gcs-server) and read back.
func TestObjectStores(t *testing.T) {
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	s3 := storagetest.StartS3(t)
	s3.Bucket(t, "mesh")
	fakegcs.Start(t, "gmesh")
	ctx, c := startMesh(t)

	src, err := ReadCSV(fixture, BlockSize(int64(len(raw))/3+1))
	if err != nil {
		t.Fatal(err)
	}
	want := compute(t, ctx, c, src)
	defer want.Release()

	// Local Parquet files, and the same files in the bucket.
	dir := t.TempDir()
	local := filepath.Join(dir, "pq")
	files, err := src.ToParquet(ctx, c, local, RowGroupRows(10_000))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s3.Put(t, "mesh", "pq/"+filepath.Base(f), b)
	}
	s3.Put(t, "mesh", "pq/notes.txt", []byte("not matched by *.parquet"))
	q := func(d *DataFrame) *DataFrame {
		return d.Filter(Col("v1").Gt(2)).GroupBy("id1").Agg(Sum("v2"), Count("v3"), Mean("v3"))
	}

	t.Run("read parquet", func(t *testing.T) {
		lp, err := ReadParquet(local, BlockSize(0))
		if err != nil {
			t.Fatal(err)
		}
		for _, pattern := range []string{s3.URL("mesh", "pq/*.parquet"), s3.URL("mesh", "pq")} {
			rp, err := ReadParquet(pattern, BlockSize(0))
			if err != nil {
				t.Fatal(err)
			}
			if rp.NPartitions() != lp.NPartitions() || rp.NPartitions() < 10 {
				t.Fatalf("%s: %d partitions, local %d: want one per row group", pattern, rp.NPartitions(), lp.NPartitions())
			}
			got := compute(t, ctx, c, rp)
			sameRecords(t, "parquet from s3", got, want)
			got.Release()
			g := sortedBy(t, compute(t, ctx, c, q(rp)), "id1")
			e := sortedBy(t, compute(t, ctx, c, q(lp)), "id1")
			sameRecords(t, "group-by of parquet from s3", g, e)
			g.Release()
			e.Release()
		}
		// Statistics skip row groups of objects as of files.
		rp, _ := ReadParquet(s3.URL("mesh", "pq/*.parquet"), BlockSize(0))
		sel := rp.Filter(Col("id4").Lt(0))
		if n, err := sel.Len(ctx, c); err != nil || n != 0 {
			t.Fatalf("filter nothing: %d, %v", n, err)
		}
		if tasks := rp.plan.parquet.parquetTasks([]Step{{Op: "filter", Expr: ptr(Col("id4").Lt(0))}}); len(tasks) != 1 || len(tasks[0].Part.RowGroups) != 0 {
			t.Fatalf("row groups not skipped by statistics: %+v", tasks)
		}
	})

	t.Run("read csv", func(t *testing.T) {
		s3.Put(t, "mesh", "csv/a.csv", raw)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(raw)
		zw.Close()
		s3.Put(t, "mesh", "gz/a.csv.gz", z.Bytes())
		rc, err := ReadCSV(s3.URL("mesh", "csv/*.csv"), BlockSize(int64(len(raw))/5+1))
		if err != nil {
			t.Fatal(err)
		}
		if rc.NPartitions() != 5 {
			t.Fatalf("%d partitions, want 5 byte ranges", rc.NPartitions())
		}
		got := compute(t, ctx, c, rc)
		sameRecords(t, "csv from s3", got, want)
		got.Release()
		gz, err := ReadCSV(s3.URL("mesh", "gz/*.gz"), BlockSize(1000))
		if err != nil {
			t.Fatal(err)
		}
		if gz.NPartitions() != 1 {
			t.Fatalf("gzip: %d partitions, want the whole file", gz.NPartitions())
		}
		got = compute(t, ctx, c, gz)
		sameRecords(t, "csv.gz from s3", got, want)
		got.Release()
		if _, err := ReadCSV(s3.URL("mesh", "none/*.csv")); !errors.Is(err, ErrNoFiles) {
			t.Fatalf("no match: %v", err)
		}
	})

	t.Run("read csv over http: each task reads its range", func(t *testing.T) {
		hdir := t.TempDir()
		os.WriteFile(filepath.Join(hdir, "a.csv"), raw, 0o644)
		var served atomic.Int64
		fsrv := http.FileServer(http.Dir(hdir))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fsrv.ServeHTTP(&countingResponse{ResponseWriter: w, n: &served}, r)
		}))
		defer srv.Close()
		d, err := ReadCSV(srv.URL+"/a.csv", BlockSize(int64(len(raw))/5+1))
		if err != nil {
			t.Fatal(err)
		}
		served.Store(0)
		got := compute(t, ctx, c, d)
		sameRecords(t, "csv over http", got, want)
		got.Release()
		// Each task: its range, the header's and its last line's read-ahead blocks.
		limit := int64(len(raw)) + int64(d.NPartitions())*2*storage.ReadAhead
		n := served.Load()
		t.Logf("the tasks fetched %d bytes of a %d-byte file in %d partitions", n, len(raw), d.NPartitions())
		if n < int64(len(raw)) || n > limit {
			t.Fatalf("the tasks fetched %d bytes of a %d-byte file in %d partitions: want at most %d", n, len(raw), d.NPartitions(), limit)
		}
	})

	for _, store := range []struct{ name, dir string }{
		{"s3", "s3://mesh/out?" + s3.Query},
		{"gcs", "gs://gmesh/out"},
	} {
		t.Run("write "+store.name, func(t *testing.T) {
			files, err := src.ToParquet(ctx, c, store.dir, RowGroupRows(20_000))
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 3 || storage.Key(files[1]) != storage.Key(store.dir)+"/part.1.parquet" {
				t.Fatalf("files %v", files)
			}
			back, err := ReadParquet(store.dir)
			if err != nil {
				t.Fatal(err)
			}
			got := compute(t, ctx, c, back)
			sameRecords(t, "parquet round trip via "+store.name, got, want)
			got.Release()
			if _, err := src.ToParquet(ctx, c, store.dir); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), storage.Key(files[0])) {
				t.Fatalf("writing over: %v, want ErrExists naming %s", err, storage.Key(files[0]))
			}
			if _, err := src.ToParquet(ctx, c, store.dir, Overwrite()); err != nil {
				t.Fatalf("overwrite: %v", err)
			}
			csvs, err := src.ToCSV(ctx, c, storage.Join(store.dir, "csv/part-*.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(storage.Key(csvs[2]), "/csv/part-2.csv") {
				t.Fatalf("csv files %v", csvs)
			}
			cb, err := ReadCSV(storage.Join(store.dir, "csv/part-*.csv"))
			if err != nil {
				t.Fatal(err)
			}
			got = compute(t, ctx, c, cb)
			sameRecords(t, "csv round trip via "+store.name, got, want)
			got.Release()
		})
	}

	t.Run("errors", func(t *testing.T) {
		if _, err := src.ToCSV(ctx, c, "https://example.invalid/out/"); !errors.Is(err, storage.ErrReadOnly) {
			t.Fatalf("writing to https: %v", err)
		}
		// A planned object that changed is an error naming it.
		s3.Put(t, "mesh", "chg/a.parquet", mustRead(t, files[0]))
		d, err := ReadParquet(s3.URL("mesh", "chg/*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		s3.Put(t, "mesh", "chg/a.parquet", mustRead(t, files[1])[:100])
		if _, err := d.Len(ctx, c); err == nil || !strings.Contains(err.Error(), "s3://mesh/chg/a.parquet") || !strings.Contains(err.Error(), "changed") {
			t.Fatalf("changed object: %v", err)
		}
	})
}

// countingResponse counts the body's bytes (before the client can have
// them).
type countingResponse struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

func ptr(e Expr) *Expr { return &e }

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
