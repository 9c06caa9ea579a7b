package bag

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// WriteResult is what ToText wrote for one partition.
type WriteResult struct {
	Path  string `msgpack:"path"`
	Lines int64  `msgpack:"lines"`
	Bytes int64  `msgpack:"bytes"`
}

// ToText writes partition i to the file named by pattern with its one "*"
// replaced by i (zero-padded to 5 digits), one element per line: strings
// as they are, other values as JSON. A name ending in ".gz" is written
// gzip-compressed. The directory is created if need be; existing files are
// replaced (each is written to a temporary file renamed into place). The
// workers write the files, so the directory must be on a disk every node
// sees — or an object store URL (package storage: s3://bucket/out/part-*.txt,
// gs://…, options in its query), where each object appears when its upload
// completes.
//
//	res, err := counts.ToText(ctx, c, "out/part-*.jsonl")
func (b *Bag) ToText(ctx context.Context, c *futures.Client, pattern string) ([]WriteResult, error) {
	if strings.Count(storage.Key(pattern), "*") != 1 {
		return nil, fmt.Errorf("%w: ToText(%q): the pattern needs exactly one * (replaced by the partition number)", ErrInvalid, pattern)
	}
	abs, err := storage.Abs(pattern)
	if err != nil {
		return nil, err
	}
	if strings.Contains(storage.Dir(storage.Key(abs)), "*") {
		return nil, fmt.Errorf("%w: ToText(%q): the * must be in the file name, not in a directory", ErrInvalid, pattern)
	}
	if err := storage.CheckWritable(ctx, storage.Dir(abs)); err != nil {
		return nil, fmt.Errorf("to text: %w", err)
	}
	g, refs, err := b.Graph()
	if err != nil {
		return nil, err
	}
	var job [8]byte
	rand.Read(job[:])
	outs := make([]futures.Ref, len(refs))
	for i, r := range refs {
		// The pattern's *, not one the working directory may hold.
		path, err := storage.Abs(strings.Replace(pattern, "*", fmt.Sprintf("%05d", i), 1))
		if err != nil {
			return nil, err
		}
		// Pure(false): writing again is a new task, never a held answer.
		if outs[i], err = g.Add(writeFunc, path, hex.EncodeToString(job[:]), r, futures.Pure(false)); err != nil {
			return nil, err
		}
	}
	fs, err := submit(ctx, c, g, outs)
	if err != nil {
		return nil, err
	}
	defer c.Release(context.WithoutCancel(ctx), fs...)
	return futures.GatherAs[WriteResult](ctx, c, fs)
}

func runWrite(ctx context.Context, path, job string, part futures.RawBytes) (res WriteResult, err error) {
	res.Path = path
	f, err := storage.Create(ctx, path)
	if err != nil {
		return res, fmt.Errorf("to text %s: %w", storage.Key(path), err)
	}
	defer func() {
		if err != nil {
			f.Abort()
		}
	}()
	var out io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(storage.Key(path), ".gz") {
		zw = gzip.NewWriter(f)
		out = zw
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	err = elements(part, func(i int, e []byte) error {
		if s, ok := strPayload(e); ok && e[0] != 0xc4 && e[0] != 0xc5 && e[0] != 0xc6 {
			bw.Write(s)
		} else {
			var v any
			if err := msgpack.Unmarshal(e, &v); err != nil {
				return err
			}
			j, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("element %d (%T) as JSON: %w", i, v, err)
			}
			bw.Write(j)
		}
		res.Lines++
		return bw.WriteByte('\n')
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && zw != nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return res, fmt.Errorf("to text %s: %w", storage.Key(path), err)
	}
	res.Bytes = f.Written()
	return res, nil
}
