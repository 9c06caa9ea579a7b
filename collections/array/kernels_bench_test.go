package array

import "testing"

// Benchmarks of the chunk kernels on 1000x1000 float64 blocks (the
// tutorial's chunks): generation, elementwise with a transposed operand,
// a row reduction, and a chunk value's encode and decode.
func benchBlock() view {
	v, err := generate(&Gen{Kind: "random", Shape: []int{1000, 1000}, DT: Float64, Seed: 1}, []Sl{{0, 1, 1000}, {0, 1, 1000}}, nil)
	if err != nil {
		panic(err)
	}
	return v
}

func BenchmarkGenerateRandom(b *testing.B) {
	g := &Gen{Kind: "random", Shape: []int{1000, 1000}, DT: Float64, Seed: 1}
	b.SetBytes(8e6)
	for b.Loop() {
		if _, err := generate(g, []Sl{{0, 1, 1000}, {0, 1, 1000}}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddTransposed(b *testing.B) {
	x := benchBlock()
	xt, _ := transposeView(x, []int{1, 0})
	b.SetBytes(8e6)
	for b.Loop() {
		if _, err := evalElem("add", []view{x, xt}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubBroadcast(b *testing.B) {
	x := benchBlock()
	m := contigView(buf{dt: Float64, f: make([]float64, 1000)}, []int{1000})
	b.SetBytes(8e6)
	for b.Loop() {
		if _, err := evalElem("sub", []view{x, m}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSumRows(b *testing.B) {
	x := benchBlock()
	b.SetBytes(8e6)
	for b.Loop() {
		if _, err := partial("sum", x, []int{1}, []int{0, 0}, x.shape); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkEncodeDecode(b *testing.B) {
	x := benchBlock()
	b.SetBytes(8e6)
	for b.Loop() {
		v, err := encodeChunk(x)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeChunk(v[5:]); err != nil {
			b.Fatal(err)
		}
	}
}
