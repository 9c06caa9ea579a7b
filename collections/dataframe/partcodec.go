package dataframe

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/meshcompute/mesh/collections/dataframe/kernels"
)

// A partition's value is an Arrow IPC file, read back without a copy: the
// record's buffers point into the stored value itself. The IPC file is
// preceded by p bytes of value p (1..8), chosen so that it starts 8-byte
// aligned in the stored msgpack value (whose bin header takes 2, 3 or 5
// bytes): Arrow's typed views of the buffers need that alignment.

// encodePart encodes rec as a partition value's payload.
func encodePart(rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, 8)) // room for the padding, trimmed below
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err != nil {
		return nil, fmt.Errorf("encode partition: %w", err)
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, fmt.Errorf("encode partition: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode partition: %w", err)
	}
	b := buf.Bytes()
	body := len(b) - 8
	// The msgpack bin header of the whole payload (p + body bytes).
	for p := 1; p <= 8; p++ {
		if (binHeader(p+body)+p)%8 == 0 {
			out := b[8-p:]
			for i := range p {
				out[i] = byte(p)
			}
			return out, nil
		}
	}
	panic("unreachable: some p in 1..8 aligns")
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
