package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/meshcompute/mesh/examples/internal/extest"
)

func TestMain(m *testing.M) { extest.Main(m) }

func TestTutorialExpression(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, cfg := range []config{
		{Size: 600, Chunk: 137, Seed: 11}, // uneven blocks
		{Size: 301, Chunk: 64, Seed: 3},   // odd size: z has (n+1)/2 values
	} {
		cfg.Mesh = extest.Mesh(t)
		cfg.Check = false // compared here instead
		var out bytes.Buffer
		res, err := run(ctx, cfg, &out)
		if err != nil {
			t.Fatalf("size %d: %v\n%s", cfg.Size, err, out.String())
		}
		t.Logf("\n%s", out.String())
		want := reference(cfg.Size, cfg.Seed)
		if len(res.Z) != len(want) || len(want) != (cfg.Size+1)/2 {
			t.Fatalf("size %d: z has %d values, want %d", cfg.Size, len(res.Z), len(want))
		}
		for i := range want {
			if d := res.Z[i] - want[i]; d > 1e-12 || d < -1e-12 {
				t.Fatalf("size %d: z[%d] = %v, plain loops give %v", cfg.Size, i, res.Z[i], want[i])
			}
		}
		if res.Tasks <= 0 {
			t.Errorf("size %d: %d tasks", cfg.Size, res.Tasks)
		}
	}
}

// run's own check reports the difference it found.
func TestRunCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := run(ctx, config{Mesh: extest.Mesh(t), Size: 200, Chunk: 50, Seed: 1, Check: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !(res.MaxDiff <= 1e-12) || !bytes.Contains(out.Bytes(), []byte("plain Go loops agree")) {
		t.Fatalf("check: max diff %v\n%s", res.MaxDiff, out.String())
	}
}

// The same through -connect ADDR -secret-file FILE.
func TestConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := run(ctx, config{Mesh: extest.Connect(t), Size: 120, Chunk: 50, Seed: 2, Check: true}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(res.Z) != 60 || !(res.MaxDiff <= 1e-12) {
		t.Fatalf("z has %d values, max diff %v\n%s", len(res.Z), res.MaxDiff, out.String())
	}
}
