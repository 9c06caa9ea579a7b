package dataframe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

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
	if dict := d.Dictionary(); dict != nil && dict.(*array.Data) != nil {
		n += arraySize(dict)
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

// A split's value holds its buckets, each a complete partition value
// (msgpack bin header, padding, IPC file) embedded in the split's bytes, so
// that dataframe.pick returns one without a copy. The split value is a bin32
// (always 5 header bytes, so positions are known while writing) whose
// payload is "MSP2", the count n (uint32), n pairs (offset, length) (uint64)
// of the bucket values relative to the payload, then the bucket values, each
// with its IPC file 8-byte aligned in the value.

const splitMagic = "MSP2"

// encodeSplit writes parts as one split value, each IPC file written once,
// straight into the value.
func encodeSplit(parts []arrow.RecordBatch) (futures.Encoded, error) {
	n := len(parts)
	table := 5 + 8 + 16*n
	size := table
	for _, p := range parts {
		size += int(estimateSize(p)) + 4096 + 24
	}
	w := &appendWriter{b: make([]byte, table, size)}
	for i, p := range parts {
		// The file starts 8-aligned with room for a header (<= 5) and one
		// padding byte before it.
		pos := (len(w.b) + 6 + 7) &^ 7
		w.b = append(w.b, make([]byte, pos-len(w.b))...)
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(p.Schema()))
		if err != nil {
			return nil, fmt.Errorf("encode split: %w", err)
		}
		if err := fw.Write(p); err != nil {
			fw.Close()
			return nil, fmt.Errorf("encode split: %w", err)
		}
		if err := fw.Close(); err != nil {
			return nil, fmt.Errorf("encode split: %w", err)
		}
		body := 1 + len(w.b) - pos // padding byte + file
		h := binHeader(body)
		start := pos - 1 - h
		putBinHeader(w.b[start:start+h], body)
		w.b[pos-1] = 1
		binary.LittleEndian.PutUint64(w.b[5+8+16*i:], uint64(start-5))
		binary.LittleEndian.PutUint64(w.b[5+8+16*i+8:], uint64(h+body))
	}
	v := w.b
	putBinHeader(v[:5], len(v)-5)
	copy(v[5:], splitMagic)
	binary.LittleEndian.PutUint32(v[9:], uint32(n))
	return futures.Encoded(v), nil
}

// appendWriter is an io.Writer appending to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// splitBucket returns bucket i of a split's payload as a whole partition
// value (header included), without a copy.
func splitBucket(blob []byte, i int) (futures.Encoded, error) {
	if len(blob) < 8 || string(blob[:4]) != splitMagic {
		return nil, fmt.Errorf("dataframe.pick: not a split value")
	}
	n := int(binary.LittleEndian.Uint32(blob[4:]))
	if i < 0 || i >= n || len(blob) < 8+16*n {
		return nil, fmt.Errorf("dataframe.pick: bucket %d of %d", i, n)
	}
	off := binary.LittleEndian.Uint64(blob[8+16*i:])
	l := binary.LittleEndian.Uint64(blob[8+16*i+8:])
	if off > uint64(len(blob)) || l > uint64(len(blob))-off {
		return nil, fmt.Errorf("dataframe.pick: bucket %d runs past the value", i)
	}
	return futures.Encoded(blob[off : off+l : off+l]), nil
}

// copyAligned copies a partition value into new memory, placed so that
// its IPC file stays 8-byte aligned.
func copyAligned(v futures.Encoded) futures.Encoded {
	if len(v) < 2 {
		return append(futures.Encoded(nil), v...)
	}
	file := binHeader(0)
	switch v[0] {
	case msgpcode.Bin16:
		file = 3
	case msgpcode.Bin32:
		file = 5
	}
	if file < len(v) {
		file += int(v[file]) // the padding
	}
	off := (8 - file%8) % 8
	out := make([]byte, off+len(v))
	copy(out[off:], v)
	return futures.Encoded(out[off:])
}

// decodePart reads a partition value's payload; the record aliases data
// (which must not change while it is in use). Dictionary-encoded columns (a
// partition read with the Dictionary option) come out decoded.
func decodePart(data []byte) (arrow.RecordBatch, error) {
	rec, err := decodePartDict(data)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	return kernels.DecodeDictionaries(mem, rec)
}

// decodePartDict is decodePart keeping dictionary-encoded columns.
func decodePartDict(data []byte) (arrow.RecordBatch, error) {
	if len(data) == 0 || int(data[0]) < 1 || int(data[0]) > 8 || len(data) < int(data[0]) {
		return nil, fmt.Errorf("decode partition: not a partition value (%d bytes)", len(data))
	}
	file := data[data[0]:]
	if uintptr(unsafe.Pointer(unsafe.SliceData(file)))%8 != 0 {
		file = append(make([]byte, 0, len(file)), file...) // an aligned copy
	}
	// The file's messages are read as a stream, each buffer aliasing file
	// (ipc.NewMappedFileReader would do the same but fails on dictionaries:
	// arrow-go v18.8.0 leaves its dictionary memo nil).
	mr, err := newMappedMessages(file)
	if err != nil {
		return nil, fmt.Errorf("decode partition: %w", err)
	}
	r, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("decode partition: %w", err)
	}
	defer r.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, q := range recs {
			q.Release()
		}
	}()
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("decode partition: %w", err)
	}
	switch len(recs) {
	case 0:
		return nil, fmt.Errorf("decode partition: no record batch")
	case 1:
		recs[0].Retain()
		return recs[0], nil
	}
	return kernels.Concat(mem, recs)
}

// mappedMessages reads the messages of an Arrow IPC file held in memory
// (magic, stream of messages, footer) without copying them.
type mappedMessages struct {
	data []byte
	pos  int
	end  int // start of the footer
	refs atomic.Int64
	msg  *ipc.Message
}

func newMappedMessages(file []byte) (*mappedMessages, error) {
	const tail = 10 // int32 footer length + "ARROW1"
	if len(file) < 8+tail || !bytes.Equal(file[:6], ipc.Magic) || !bytes.Equal(file[len(file)-6:], ipc.Magic) {
		return nil, fmt.Errorf("not an Arrow IPC file")
	}
	flen := int(int32(binary.LittleEndian.Uint32(file[len(file)-tail:])))
	end := len(file) - tail - flen
	if flen < 0 || end < 8 {
		return nil, fmt.Errorf("bad Arrow IPC footer length %d", flen)
	}
	m := &mappedMessages{data: file, pos: 8, end: end}
	m.refs.Add(1)
	return m, nil
}

func (m *mappedMessages) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	if m.pos+4 > m.end {
		return nil, io.EOF
	}
	n := int(int32(binary.LittleEndian.Uint32(m.data[m.pos:])))
	m.pos += 4
	if uint32(n) == 0xFFFFFFFF { // continuation marker, then the length
		if m.pos+4 > m.end {
			return nil, io.EOF
		}
		n = int(int32(binary.LittleEndian.Uint32(m.data[m.pos:])))
		m.pos += 4
	}
	if n == 0 { // end of stream
		return nil, io.EOF
	}
	if n < 0 || m.pos+n > m.end {
		return nil, fmt.Errorf("bad Arrow IPC message length %d at %d", n, m.pos)
	}
	meta := memory.NewBufferBytes(m.data[m.pos : m.pos+n])
	m.pos += n
	probe := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	blen := int(probe.BodyLen())
	probe.Release()
	if blen < 0 || m.pos+blen > m.end {
		return nil, fmt.Errorf("bad Arrow IPC body length %d at %d", blen, m.pos)
	}
	body := memory.NewBufferBytes(m.data[m.pos : m.pos+blen])
	m.pos += blen
	m.msg = ipc.NewMessage(meta, body)
	return m.msg, nil
}

func (m *mappedMessages) Retain() { m.refs.Add(1) }

func (m *mappedMessages) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}
