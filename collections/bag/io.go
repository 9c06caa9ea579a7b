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
	"os"
	"path/filepath"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

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
// sees.
//
//	res, err := counts.ToText(ctx, c, "out/part-*.jsonl")
func (b *Bag) ToText(ctx context.Context, c *futures.Client, pattern string) ([]WriteResult, error) {
	if strings.Count(pattern, "*") != 1 {
		return nil, fmt.Errorf("%w: ToText(%q): the pattern needs exactly one * (replaced by the partition number)", ErrInvalid, pattern)
	}
	abs, err := filepath.Abs(pattern)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
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
		path, err := filepath.Abs(strings.Replace(pattern, "*", fmt.Sprintf("%05d", i), 1))
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

func runWrite(path, job string, part futures.RawBytes) (res WriteResult, err error) {
	res.Path = path
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"."+job+".*")
	if err != nil {
		return res, fmt.Errorf("to text: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	counted := &countingWriter{w: tmp}
	var out io.Writer = counted
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(counted)
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
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return res, fmt.Errorf("to text %s: %w", path, err)
	}
	res.Bytes = counted.n
	return res, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
