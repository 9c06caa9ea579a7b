package array

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/meshcompute/mesh/futures"
)

// DType is an array's element type.
type DType uint8

// The element types.
const (
	Float64 DType = iota + 1
	Int64
	Bool
)

func (d DType) String() string {
	switch d {
	case Float64:
		return "float64"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

func (d DType) size() int {
	if d == Bool {
		return 1
	}
	return 8
}

// buf is the contiguous data of one chunk: exactly one of f, i, b is used,
// as dt says.
type buf struct {
	dt DType
	f  []float64
	i  []int64
	b  []bool
}

func newBuf(dt DType, n int) buf {
	switch dt {
	case Float64:
		return buf{dt: dt, f: make([]float64, n)}
	case Int64:
		return buf{dt: dt, i: make([]int64, n)}
	}
	return buf{dt: Bool, b: make([]bool, n)}
}

func (b buf) len() int {
	switch b.dt {
	case Float64:
		return len(b.f)
	case Int64:
		return len(b.i)
	}
	return len(b.b)
}

// view is a strided n-d view of a buf (numpy's ndarray): transposes,
// slices with steps and broadcasts are views, never copies. Strides are in
// elements; a broadcast axis has stride 0.
type view struct {
	buf
	off     int
	shape   []int
	strides []int
	own     bool // a temporary of this program: its parent may overwrite it
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func cStrides(shape []int) []int {
	s := make([]int, len(shape))
	st := 1
	for k := len(shape) - 1; k >= 0; k-- {
		s[k] = st
		st *= max(shape[k], 1)
	}
	return s
}

// contigView is a C-ordered view of all of b.
func contigView(b buf, shape []int) view {
	return view{buf: b, shape: shape, strides: cStrides(shape)}
}

// isContig says whether v is C-contiguous from off.
func (v view) isContig() bool {
	st := 1
	for k := len(v.shape) - 1; k >= 0; k-- {
		if v.shape[k] != 1 && v.strides[k] != st {
			return false
		}
		st *= v.shape[k]
	}
	return true
}

// Chunk values. A chunk travels as one msgpack bin32 value whose payload
// is: 3 zero bytes, the magic "MARR", the dtype (1 byte), ndim (1 byte),
// 2 reserved bytes, an 8-byte tag (0, or a random number that makes a
// scattered chunk's key unique), ndim little-endian int64 dimensions, then
// the elements,
// little-endian (bools one byte each). With the 5-byte bin32 header, the
// elements start 8-byte aligned in the value, so a task reads them in
// place (decodeChunk) when the stored value is aligned, as the mesh's
// stores keep it.
const (
	chunkMagic = "MARR"
	chunkHead  = 3 + 4 + 1 + 1 + 2 + 8 // payload bytes before the dimensions
)

// encodeChunk writes v (any strides) as a chunk value.
func encodeChunk(v view) (futures.Encoded, error) {
	out, dst, err := newChunkValue(v.dt, v.shape)
	if err != nil {
		return nil, err
	}
	copyInto(dst, v)
	return out, nil
}

// newChunkValue allocates the chunk value of a dt array of shape, header
// written, and returns it with its elements (zero) as a buf.
func newChunkValue(dt DType, shape []int) (futures.Encoded, buf, error) {
	if len(shape) > 255 {
		return nil, buf{}, fmt.Errorf("array: %d dimensions, at most 255", len(shape))
	}
	n := size(shape)
	data := n * dt.size()
	payload := chunkHead + 8*len(shape) + data
	if payload > math.MaxUint32 {
		return nil, buf{}, fmt.Errorf("array: a chunk of %d bytes is over 4 GiB: use smaller chunks", data)
	}
	out := make([]byte, 5+payload)
	out[0] = 0xc6 // bin32
	binary.BigEndian.PutUint32(out[1:], uint32(payload))
	p := out[5:]
	copy(p[3:], chunkMagic)
	p[7] = byte(dt)
	p[8] = byte(len(shape))
	for k, d := range shape {
		binary.LittleEndian.PutUint64(p[chunkHead+8*k:], uint64(d))
	}
	body := p[chunkHead+8*len(shape):]
	return futures.Encoded(out), bufOver(dt, body, n), nil
}

// sameData says whether v's elements start where b's do.
func (v view) sameData(b buf) bool {
	if v.dt != b.dt || b.len() == 0 || v.buf.len() == 0 {
		return false
	}
	switch b.dt {
	case Float64:
		return &v.f[0] == &b.f[0]
	case Int64:
		return &v.i[0] == &b.i[0]
	}
	return &v.b[0] == &b.b[0]
}

// bufOver is a buf of n elements of dt over b (which must be long enough,
// and 8-byte aligned for 8-byte types).
func bufOver(dt DType, b []byte, n int) buf {
	if n == 0 {
		return newBuf(dt, 0)
	}
	switch dt {
	case Float64:
		return buf{dt: dt, f: unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(b))), n)}
	case Int64:
		return buf{dt: dt, i: unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b))), n)}
	}
	return buf{dt: Bool, b: unsafe.Slice((*bool)(unsafe.Pointer(unsafe.SliceData(b))), n)}
}

// decodeChunk reads a chunk value's payload (as a RawBytes argument gets
// it). The result aliases p when its elements are aligned (it must then not
// be modified); otherwise they are copied.
func decodeChunk(p []byte) (view, error) {
	if len(p) < chunkHead || string(p[3:7]) != chunkMagic {
		return view{}, fmt.Errorf("array: not a chunk value (%d bytes)", len(p))
	}
	dt := DType(p[7])
	if dt < Float64 || dt > Bool {
		return view{}, fmt.Errorf("array: chunk of unknown dtype %d", p[7])
	}
	nd := int(p[8])
	if len(p) < chunkHead+8*nd {
		return view{}, fmt.Errorf("array: truncated chunk header")
	}
	shape := make([]int, nd)
	for k := range shape {
		d := binary.LittleEndian.Uint64(p[chunkHead+8*k:])
		if d > math.MaxInt32*8 {
			return view{}, fmt.Errorf("array: chunk dimension %d too large", d)
		}
		shape[k] = int(d)
	}
	n := size(shape)
	body := p[chunkHead+8*nd:]
	if len(body) != n*dt.size() {
		return view{}, fmt.Errorf("array: chunk of shape %v holds %d bytes, want %d", shape, len(body), n*dt.size())
	}
	if dt != Bool && n > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(body)))%8 != 0 {
		body = append(make([]byte, 0, len(body)+8), body...)
	}
	b := bufOver(dt, body, n)
	if dt == Bool {
		for _, x := range body {
			if x > 1 {
				return view{}, fmt.Errorf("array: bool chunk holds byte %d", x)
			}
		}
	}
	return contigView(b, shape), nil
}

// forEachRow calls f for every run along the last axis of shape (in C
// order) with the offsets of each of the views' first element of the run.
// A 0-d shape is one run of length 1.
func forEachRow(shape []int, vs []view, f func(offs []int, n int)) {
	nd := len(shape)
	offs := make([]int, len(vs))
	for j, v := range vs {
		offs[j] = v.off
	}
	if size(shape) == 0 {
		return
	}
	if nd == 0 {
		f(offs, 1)
		return
	}
	n := shape[nd-1]
	idx := make([]int, nd-1)
	for {
		f(offs, n)
		k := nd - 2
		for ; k >= 0; k-- {
			idx[k]++
			for j, v := range vs {
				offs[j] += v.strides[k]
			}
			if idx[k] < shape[k] {
				break
			}
			for j, v := range vs {
				offs[j] -= v.strides[k] * shape[k]
			}
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// copyInto copies v (same dtype, any strides) into the contiguous dst.
func copyInto(dst buf, v view) {
	if v.isContig() {
		n := size(v.shape)
		switch v.dt {
		case Float64:
			copy(dst.f, v.f[v.off:v.off+n])
		case Int64:
			copy(dst.i, v.i[v.off:v.off+n])
		default:
			copy(dst.b, v.b[v.off:v.off+n])
		}
		return
	}
	nd := len(v.shape)
	if nd >= 2 && v.strides[nd-1] != 1 && v.strides[nd-2] != 0 && v.shape[nd-1] > 1 {
		transposeCopy(dst, v)
		return
	}
	out := contigView(dst, v.shape)
	switch v.dt {
	case Float64:
		forEachRow(v.shape, []view{out, v}, func(o []int, n int) {
			d, s, st := dst.f[o[0]:o[0]+n], o[1], v.strides[nd-1]
			for k := range d {
				d[k] = v.f[s+k*st]
			}
		})
	case Int64:
		forEachRow(v.shape, []view{out, v}, func(o []int, n int) {
			d, s, st := dst.i[o[0]:o[0]+n], o[1], v.strides[nd-1]
			for k := range d {
				d[k] = v.i[s+k*st]
			}
		})
	default:
		forEachRow(v.shape, []view{out, v}, func(o []int, n int) {
			d, s, st := dst.b[o[0]:o[0]+n], o[1], v.strides[nd-1]
			for k := range d {
				d[k] = v.b[s+k*st]
			}
		})
	}
}

// transposeCopy copies a view whose last axis is strided (a transpose) in
// tiles over its last two axes, so that the lines it reads are used while
// they are in cache.
func transposeCopy(dst buf, v view) {
	nd := len(v.shape)
	rows, cols := v.shape[nd-2], v.shape[nd-1]
	rs, cs := v.strides[nd-2], v.strides[nd-1]
	outer := v.shape[:nd-2]
	ov := view{off: v.off, shape: append(append([]int(nil), outer...), 1), strides: append(append([]int(nil), v.strides[:nd-2]...), 0)}
	const tileR, tileC = 16, 512 // as forEachTileRow's
	base := 0
	forEachRow(ov.shape, []view{ov}, func(o []int, _ int) {
		s0 := o[0]
		for r0 := 0; r0 < rows; r0 += tileR {
			r1 := min(r0+tileR, rows)
			for c0 := 0; c0 < cols; c0 += tileC {
				c1 := min(c0+tileC, cols)
				for r := r0; r < r1; r++ {
					d := base + r*cols
					s := s0 + r*rs
					switch v.dt {
					case Float64:
						for c := c0; c < c1; c++ {
							dst.f[d+c] = v.f[s+c*cs]
						}
					case Int64:
						for c := c0; c < c1; c++ {
							dst.i[d+c] = v.i[s+c*cs]
						}
					default:
						for c := c0; c < c1; c++ {
							dst.b[d+c] = v.b[s+c*cs]
						}
					}
				}
			}
		}
		base += rows * cols
	})
}

// materialize returns v as a contiguous buf (v's own when it already is).
func materialize(v view) buf {
	n := size(v.shape)
	if v.isContig() {
		switch v.dt {
		case Float64:
			return buf{dt: Float64, f: v.f[v.off : v.off+n]}
		case Int64:
			return buf{dt: Int64, i: v.i[v.off : v.off+n]}
		}
		return buf{dt: Bool, b: v.b[v.off : v.off+n]}
	}
	out := newBuf(v.dt, n)
	copyInto(out, v)
	return out
}
