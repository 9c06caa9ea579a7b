package array

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshcompute/mesh/collections/storage"
)

// NumPy's .npy format (version 1.0 written; 1.0, 2.0 and 3.0 read): magic
// "\x93NUMPY", the version, a little-endian header length, a Python dict
// literal {'descr', 'fortran_order', 'shape'} padded so that the data
// starts 64-byte aligned, then the elements.

// WriteNpy writes d as a .npy file (C order, little-endian: '<f8', '<i8'
// or '|b1').
func (d *Dense) WriteNpy(w io.Writer) error {
	descr := map[DType]string{Float64: "<f8", Int64: "<i8", Bool: "|b1"}[d.DType]
	if descr == "" {
		return fmt.Errorf("array: WriteNpy of dtype %v", d.DType)
	}
	shape := make([]string, len(d.Shape))
	for k, s := range d.Shape {
		shape[k] = strconv.Itoa(s)
	}
	st := strings.Join(shape, ", ")
	if len(shape) == 1 {
		st += ","
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, st)
	total := 10 + len(h) + 1
	pad := (64 - total%64) % 64
	h += strings.Repeat(" ", pad) + "\n"
	if len(h) > math.MaxUint16 {
		return fmt.Errorf("array: WriteNpy: header of %d bytes", len(h))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("\x93NUMPY\x01\x00")
	binary.Write(bw, binary.LittleEndian, uint16(len(h)))
	bw.WriteString(h)
	var b [8]byte
	switch d.DType {
	case Float64:
		for _, x := range d.F64 {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
			bw.Write(b[:])
		}
	case Int64:
		for _, x := range d.I64 {
			binary.LittleEndian.PutUint64(b[:], uint64(x))
			bw.Write(b[:])
		}
	default:
		for _, x := range d.Bools {
			if x {
				bw.WriteByte(1)
			} else {
				bw.WriteByte(0)
			}
		}
	}
	return bw.Flush()
}

// WriteNpyFile writes d to path as a .npy file: a local path, or an
// object store URL (package storage: s3://bucket/x.npy, gs://…). The file
// appears whole when complete (a temporary file renamed into place; an
// object when its upload completes).
func (d *Dense) WriteNpyFile(path string) error {
	f, err := storage.Create(context.Background(), path)
	if err != nil {
		return err
	}
	if err := d.WriteNpy(f); err != nil {
		f.Abort()
		return fmt.Errorf("array: write %s: %w", storage.Key(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("array: write %s: %w", storage.Key(path), err)
	}
	return nil
}

var (
	reDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	reFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	reShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ReadNpy reads a .npy file of float64, float32, int64, int32, uint8 or
// bool elements (either byte order, C or Fortran order) as a Dense array:
// float32 becomes float64, int32 and uint8 become int64.
func ReadNpy(r io.Reader) (*Dense, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var pre [8]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return nil, fmt.Errorf("array: ReadNpy: %w", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, errors.New("array: ReadNpy: not a .npy file (no \\x93NUMPY magic)")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var n uint16
		if err := binary.Read(br, binary.LittleEndian, &n); err != nil {
			return nil, fmt.Errorf("array: ReadNpy: %w", err)
		}
		hlen = int(n)
	case 2, 3:
		var n uint32
		if err := binary.Read(br, binary.LittleEndian, &n); err != nil {
			return nil, fmt.Errorf("array: ReadNpy: %w", err)
		}
		hlen = int(n)
	default:
		return nil, fmt.Errorf("array: ReadNpy: format version %d.%d not supported", pre[6], pre[7])
	}
	if hlen > 1<<20 {
		return nil, fmt.Errorf("array: ReadNpy: header of %d bytes", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, fmt.Errorf("array: ReadNpy: header: %w", err)
	}
	h := string(hb)
	dm, fm, sm := reDescr.FindStringSubmatch(h), reFortran.FindStringSubmatch(h), reShape.FindStringSubmatch(h)
	if dm == nil || fm == nil || sm == nil {
		return nil, fmt.Errorf("array: ReadNpy: header %q lacks descr, fortran_order or shape", strings.TrimSpace(h))
	}
	var shape []int
	for _, f := range strings.Split(sm[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("array: ReadNpy: bad shape (%s)", sm[1])
		}
		shape = append(shape, n)
	}
	if shape == nil {
		shape = []int{}
	}
	descr := dm[1]
	var order binary.ByteOrder = binary.LittleEndian
	if len(descr) > 0 && descr[0] == '>' {
		order = binary.BigEndian
	}
	kind := strings.TrimLeft(descr, "<>|=")
	n := size(shape)
	var out buf
	var width int
	switch kind {
	case "f8", "f4":
		out, width = newBuf(Float64, n), int(kind[1]-'0')
	case "i8", "i4", "u1":
		out, width = newBuf(Int64, n), int(kind[1]-'0')
	case "b1":
		out, width = newBuf(Bool, n), 1
	default:
		return nil, fmt.Errorf("array: ReadNpy: dtype %q not supported (float64, float32, int64, int32, uint8, bool)", descr)
	}
	data := make([]byte, n*width)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, fmt.Errorf("array: ReadNpy: %d elements of %s: %w", n, descr, err)
	}
	for k := range n {
		b := data[k*width:]
		switch kind {
		case "f8":
			out.f[k] = math.Float64frombits(order.Uint64(b))
		case "f4":
			out.f[k] = float64(math.Float32frombits(order.Uint32(b)))
		case "i8":
			out.i[k] = int64(order.Uint64(b))
		case "i4":
			out.i[k] = int64(int32(order.Uint32(b)))
		case "u1":
			out.i[k] = int64(b[0])
		default:
			if b[0] > 1 {
				return nil, fmt.Errorf("array: ReadNpy: bool element %d is byte %d", k, b[0])
			}
			out.b[k] = b[0] == 1
		}
	}
	if fm[1] == "True" && len(shape) > 1 {
		// Fortran order: the data is the C-ordered transpose.
		rev := make([]int, len(shape))
		perm := make([]int, len(shape))
		for k := range shape {
			rev[k] = shape[len(shape)-1-k]
			perm[k] = len(shape) - 1 - k
		}
		v, _ := transposeView(contigView(out, rev), perm)
		c := newBuf(out.dt, n)
		copyInto(c, v)
		out = c
	}
	return &Dense{DType: out.dt, Shape: shape, Strides: cStrides(shape), F64: out.f, I64: out.i, Bools: out.b}, nil
}

// ReadNpyFile reads a .npy file: a local path, or an object store URL
// (package storage).
func ReadNpyFile(path string) (*Dense, error) {
	b, err := storage.ReadFile(context.Background(), path)
	if err != nil {
		return nil, err
	}
	d, err := ReadNpy(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", storage.Key(path), err)
	}
	return d, nil
}
