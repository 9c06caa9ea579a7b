package futures

import (
	"context"
	"testing"
	"time"
)

// BenchmarkMapGather measures tiny-task throughput on an in-process
// 3-node mesh (b.N tasks per Map+Gather round).
func BenchmarkMapGather(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lc, err := NewLocalCluster(ctx, 3)
	if err != nil {
		b.Fatal(err)
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 5000)
	for i := range args {
		args[i] = i
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += len(args) {
		fs, err := c.Map(ctx, "test.inc", args, Pure(false))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := GatherAs[int](ctx, c, fs); err != nil {
			b.Fatal(err)
		}
		c.Release(ctx, fs...)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkRoundTrip measures one submit -> result.
func BenchmarkRoundTrip(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lc, err := NewLocalCluster(ctx, 3)
	if err != nil {
		b.Fatal(err)
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := c.Submit(ctx, "test.inc", i, Pure(false))
		if err != nil {
			b.Fatal(err)
		}
		var v int
		if err := f.Result(ctx, &v); err != nil {
			b.Fatal(err)
		}
		c.Release(ctx, f)
	}
}
