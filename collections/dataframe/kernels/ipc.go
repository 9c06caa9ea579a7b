package kernels

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// EncodeIPC encodes rec in the Arrow IPC stream format (schema, one batch, end of stream).
func EncodeIPC(rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, fmt.Errorf("ipc encode: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("ipc encode: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeIPC decodes an Arrow IPC stream; several batches are concatenated into one record.
func DecodeIPC(mem memory.Allocator, data []byte) (arrow.RecordBatch, error) {
	r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("ipc decode: %w", err)
	}
	defer r.Release()
	var recs []arrow.RecordBatch
	defer func() { releaseAll(recs) }()
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("ipc decode: %w", err)
	}
	if len(recs) == 0 {
		return nil, errors.New("ipc decode: stream holds no record batch")
	}
	return Concat(mem, recs)
}
