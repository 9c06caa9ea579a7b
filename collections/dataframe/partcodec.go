package dataframe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
	"github.com/meshcompute/mesh/futures"
)

// A partition's value is an Arrow IPC file, read back without a copy: the
// record's buffers point into the stored value itself. The IPC file is
// preceded by p bytes of value p (1..8), chosen so that it starts 8-byte
// aligned in the stored msgpack value (whose bin header takes 2, 3 or 5
// bytes): Arrow's typed views of the buffers need that alignment.

// encodeValue encodes rec as a whole partition value: msgpack bin header,
// padding, IPC file, in one buffer (no copy to frame it).
func encodeValue(rec arrow.RecordBatch) (futures.Encoded, error) {
	b, p, err := encodeFile(rec)
	if err != nil {
		return nil, err
	}
	body := len(b) - reserve
	h := binHeader(p + body)
	v := b[reserve-p-h:]
	putBinHeader(v[:h], p+body)
	return futures.Encoded(v), nil
}

// encodePayload is a partition value's payload (padding and IPC file),
// for values framed elsewhere (the buckets of a split).
func encodePayload(rec arrow.RecordBatch) ([]byte, error) {
	b, p, err := encodeFile(rec)
	if err != nil {
		return nil, err
	}
	return b[reserve-p:], nil
}

// reserve: room before the IPC file for the msgpack header (≤ 5 bytes)
// and the padding (≤ 8), keeping the file 8-byte aligned in the buffer.
const reserve = 16

// encodeFile writes rec as an IPC file after reserve bytes, into a buffer
// sized from the record's buffers, and returns it with the padding p the
// payload needs.
func encodeFile(rec arrow.RecordBatch) ([]byte, int, error) {
	var buf bytes.Buffer
	buf.Grow(reserve + int(estimateSize(rec)) + 4096)
	buf.Write(make([]byte, reserve))
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err != nil {
		return nil, 0, fmt.Errorf("encode partition: %w", err)
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, 0, fmt.Errorf("encode partition: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, 0, fmt.Errorf("encode partition: %w", err)
	}
	b := buf.Bytes()
	body := len(b) - reserve
	for p := 1; p <= 8; p++ {
		if (binHeader(p+body)+p)%8 == 0 {
			for i := reserve - p; i < reserve; i++ {
				b[i] = byte(p)
			}
			return b, p, nil
		}
	}
	panic("unreachable: some p in 1..8 aligns")
}

// estimateSize is the bytes of rec's buffers (IPC adds little to it).
func estimateSize(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += arraySize(c.Data())
	}
	return n
}

func arraySize(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len()) + 8
		}
	}
	for _, c := range d.Children() {
		n += arraySize(c)
	}
	return n
}

func binHeader(n int) int {
	switch {
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	}
	return 5
}

func putBinHeader(h []byte, n int) {
	switch len(h) {
	case 2:
		h[0], h[1] = msgpcode.Bin8, byte(n)
	case 3:
		h[0] = msgpcode.Bin16
		binary.BigEndian.PutUint16(h[1:], uint16(n))
	default:
		h[0] = msgpcode.Bin32
		binary.BigEndian.PutUint32(h[1:], uint32(n))
	}
}

// A split's value holds its buckets: "MSPL", the count (uint32), each
// bucket's length (uint64), then the buckets' payloads.

// encodeSplit frames bucket payloads as one msgpack bin value.
func encodeSplit(buckets [][]byte) futures.Encoded {
	size := 8 + 8*len(buckets)
	for _, b := range buckets {
		size += len(b)
	}
	h := binHeader(size)
	v := make([]byte, h, h+size)
	putBinHeader(v, size)
	v = append(v, "MSPL"...)
	v = binary.LittleEndian.AppendUint32(v, uint32(len(buckets)))
	for _, b := range buckets {
		v = binary.LittleEndian.AppendUint64(v, uint64(len(b)))
	}
	for _, b := range buckets {
		v = append(v, b...)
	}
	return futures.Encoded(v)
}

// splitBucket returns bucket i of a split's payload, without a copy.
func splitBucket(blob []byte, i int) ([]byte, error) {
	if len(blob) < 8 || string(blob[:4]) != "MSPL" {
		return nil, fmt.Errorf("dataframe.pick: not a split value")
	}
	n := int(binary.LittleEndian.Uint32(blob[4:]))
	if i < 0 || i >= n || len(blob) < 8+8*n {
		return nil, fmt.Errorf("dataframe.pick: bucket %d of %d", i, n)
	}
	off := 8 + 8*n
	for j := range i {
		off += int(binary.LittleEndian.Uint64(blob[8+8*j:]))
	}
	l := int(binary.LittleEndian.Uint64(blob[8+8*i:]))
	if off+l > len(blob) {
		return nil, fmt.Errorf("dataframe.pick: bucket %d runs past the value", i)
	}
	return blob[off : off+l], nil
}

// decodePart reads a partition value's payload; the record aliases data
// (which must not change while it is in use).
func decodePart(data []byte) (arrow.RecordBatch, error) {
	if len(data) == 0 || int(data[0]) < 1 || int(data[0]) > 8 || len(data) < int(data[0]) {
		return nil, fmt.Errorf("decode partition: not a partition value (%d bytes)", len(data))
	}
	file := data[data[0]:]
	if uintptr(unsafe.Pointer(unsafe.SliceData(file)))%8 != 0 {
		file = append(make([]byte, 0, len(file)), file...) // an aligned copy
	}
	r, err := ipc.NewMappedFileReader(file)
	if err != nil {
		return nil, fmt.Errorf("decode partition: %w", err)
	}
	defer r.Close()
	switch r.NumRecords() {
	case 0:
		return nil, fmt.Errorf("decode partition: no record batch")
	case 1:
		return r.RecordBatchAt(0)
	}
	recs := make([]arrow.RecordBatch, r.NumRecords())
	for i := range recs {
		rec, err := r.RecordBatchAt(i)
		if err != nil {
			for _, q := range recs[:i] {
				q.Release()
			}
			return nil, fmt.Errorf("decode partition: %w", err)
		}
		recs[i] = rec
	}
	defer func() {
		for _, q := range recs {
			q.Release()
		}
	}()
	return kernels.Concat(mem, recs)
}
