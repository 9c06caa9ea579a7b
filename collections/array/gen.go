package array

import (
	"fmt"
	"math"
)

// Gen describes a source array computed from its indices alone, so that a
// task makes any block of it (or any strided region) without inputs:
// Random and Normal derive each element from (Seed, flat index) with a
// counter-based generator, so the array is the same whatever its chunks.
type Gen struct {
	Kind  string  `msgpack:"k"` // random, normal, full, arange, linspace, eye
	Shape []int   `msgpack:"s"` // the whole array's shape
	DT    DType   `msgpack:"d"`
	Seed  uint64  `msgpack:"seed,omitempty"`
	F     float64 `msgpack:"f,omitempty"` // full: value; arange/linspace: start; normal: mean
	F2    float64 `msgpack:"f2,omitempty"`
	I     int64   `msgpack:"i,omitempty"` // full, arange (int64): start / value
	I2    int64   `msgpack:"i2,omitempty"`
	B     bool    `msgpack:"b,omitempty"`
	N     int     `msgpack:"n,omitempty"` // linspace: num; eye: k
	End   bool    `msgpack:"e,omitempty"` // linspace: endpoint
}

// Sl selects count elements from start by step along one axis.
type Sl struct {
	Start int `msgpack:"a"`
	Step  int `msgpack:"p"`
	Count int `msgpack:"n"`
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const golden = 0x9e3779b97f4a7c15

// uniform is the k-th number of the stream seed, in [0, 1).
func uniform(key, k uint64) float64 {
	return float64(mix64(key+(k+1)*golden)>>11) * 0x1p-53
}

// generate makes the region (one Sl per axis, in global indices) of g.
func generate(g *Gen, region []Sl, alloc allocFunc) (view, error) {
	if len(region) != len(g.Shape) {
		return view{}, fmt.Errorf("array: generator of %d dimensions given a %d-dimensional region", len(g.Shape), len(region))
	}
	shape := make([]int, len(region))
	for k, r := range region {
		if r.Count < 0 || (r.Count > 0 && (r.Start < 0 || r.Start >= g.Shape[k] || r.Start+(r.Count-1)*r.Step < 0 || r.Start+(r.Count-1)*r.Step >= g.Shape[k])) {
			return view{}, fmt.Errorf("array: region %v outside shape %v", region, g.Shape)
		}
		shape[k] = r.Count
	}
	out := alloc.buf(g.DT, shape)
	ov := contigView(out, shape)
	gst := cStrides(g.Shape)
	// flat: the global flat index of each row's first element, walked with
	// the output (a view whose strides are the global steps).
	fv := view{off: 0, shape: shape, strides: make([]int, len(shape))}
	for k, r := range region {
		fv.off += r.Start * gst[k]
		fv.strides[k] = r.Step * gst[k]
	}
	nd := len(shape)
	inner := 1
	if nd > 0 {
		inner = fv.strides[nd-1]
	}
	key := mix64(g.Seed)
	switch g.Kind {
	case "random":
		step := uint64(inner) * golden
		forEachRow(shape, []view{ov, fv}, func(o []int, n int) {
			d := out.f[o[0] : o[0]+n]
			z := key + (uint64(o[1])+1)*golden // uniform(key, o[1]+j*inner), walked
			for j := range d {
				d[j] = float64(mix64(z)>>11) * 0x1p-53
				z += step
			}
		})
	case "normal":
		forEachRow(shape, []view{ov, fv}, func(o []int, n int) {
			d := out.f[o[0] : o[0]+n]
			for j := range d {
				k := uint64(o[1] + j*inner)
				u1, u2 := uniform(key, 2*k), uniform(key, 2*k+1)
				d[j] = g.F + g.F2*math.Sqrt(-2*math.Log(1-u1))*math.Cos(2*math.Pi*u2)
			}
		})
	case "full":
		switch g.DT {
		case Float64:
			for j := range out.f {
				out.f[j] = g.F
			}
		case Int64:
			for j := range out.i {
				out.i[j] = g.I
			}
		default:
			for j := range out.b {
				out.b[j] = g.B
			}
		}
	case "arange", "linspace":
		if nd != 1 {
			return view{}, fmt.Errorf("array: %s is 1-d", g.Kind)
		}
		r := region[0]
		for j := range r.Count {
			x := r.Start + j*r.Step
			switch {
			case g.DT == Int64:
				out.i[j] = g.I + int64(x)*g.I2
			case g.Kind == "linspace" && g.End && x == g.N-1:
				out.f[j] = g.F2 // the endpoint exactly
			case g.Kind == "linspace":
				div := float64(g.N)
				if g.End {
					div = float64(g.N - 1)
				}
				out.f[j] = g.F + float64(x)*(g.F2-g.F)/div
			default:
				out.f[j] = g.F + float64(x)*g.F2
			}
		}
	case "eye":
		if nd != 2 {
			return view{}, fmt.Errorf("array: eye is 2-d")
		}
		for a := range shape[0] {
			row := region[0].Start + a*region[0].Step
			for b := range shape[1] {
				if region[1].Start+b*region[1].Step == row+g.N {
					switch g.DT {
					case Float64:
						out.f[a*shape[1]+b] = 1
					case Int64:
						out.i[a*shape[1]+b] = 1
					default:
						out.b[a*shape[1]+b] = true
					}
				}
			}
		}
	default:
		return view{}, fmt.Errorf("array: unknown generator %q", g.Kind)
	}
	ov.own = alloc == nil
	return ov, nil
}

// RandomValue is element flat (C order) of Random(shape, chunks, seed),
// for any shape and chunks: the generator's definition, for reference
// computations.
func RandomValue(seed uint64, flat int) float64 { return uniform(mix64(seed), uint64(flat)) }
