package bag

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/futures"
)

// ErrNoFiles: a ReadText pattern matched no file.
var ErrNoFiles = errors.New("no files match")

// TextPart is one partition of a text source: the lines of Path that
// start in [Start, End) as ReadText cuts it (a gzip file is one part).
type TextPart struct {
	_msgpack struct{} `msgpack:",as_array"`
	Path     string
	Start    int64
	End      int64
	Size     int64 // the file's size when planned: a changed file is an error
	Gz       bool
}

// TextOption configures ReadText.
type TextOption func(*textOpts)

type textOpts struct{ blockSize int64 }

// BlockSize splits each (uncompressed) file into partitions of about n
// bytes, cut at line boundaries (default 64 MiB; 0 or less: one partition
// per file).
func BlockSize(n int64) TextOption { return func(o *textOpts) { o.blockSize = n } }

// ReadText is a bag of the lines of the files matching pattern (a glob, as
// filepath.Glob), in file order (sorted by name) then line order. Lines come without their line ending ("\n" or
// "\r\n"); a last line without a newline is a line; an empty file gives an
// empty partition. Plain files are split into blocks of about BlockSize
// bytes: a block starts after the first newline at or after its start
// offset (the first at 0) and ends at the first newline at or after its end
// offset, so every line is read once. A gzip file (by its magic bytes) is
// one partition. The files are listed here; workers read them, so the paths
// must be valid on every node.
//
// pattern may be an object store URL (package storage: s3://bucket/logs/*.txt,
// gs://…, https://… for one file; options such as ?anon=true in its
// query): the bucket is listed here, and each task reads only its byte
// range (a gzip object whole), with the credentials of its node.
//
//	lines, err := bag.ReadText("logs/*.txt*", bag.BlockSize(16<<20))
func ReadText(pattern string, opts ...TextOption) (*Bag, error) {
	o := textOpts{blockSize: 64 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	infos, err := storage.List(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("read text %q: %w", pattern, err)
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("read text %q: %w (check the path and the working directory)", pattern, ErrNoFiles)
	}
	var parts []TextPart
	for _, in := range infos {
		if in.IsDir {
			return nil, fmt.Errorf("read text: %s is a directory: give a pattern of files, e.g. %s", in.URL, filepath.Join(in.URL, "*"))
		}
		f, err := storage.Open(ctx, in.URL)
		if err != nil {
			return nil, fmt.Errorf("read text: %w", err)
		}
		var magic [2]byte
		n, _ := f.ReadAt(magic[:], 0)
		f.Close()
		gz := n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
		path := in.URL
		size := f.Size()
		step := o.blockSize
		if step <= 0 || gz || size == 0 {
			parts = append(parts, TextPart{Path: path, End: size, Size: size, Gz: gz})
			continue
		}
		for start := int64(0); start < size; start += step {
			parts = append(parts, TextPart{Path: path, Start: start, End: min(start+step, size), Size: size})
		}
	}
	return &Bag{n: &node{text: parts}, nparts: len(parts)}, nil
}

// readBlock returns the bytes of the lines of p (for a gzip file, the whole
// decompressed file), and the offset in the file where they start.
func readBlock(ctx context.Context, p TextPart) ([]byte, int64, error) {
	f, err := storage.Open(ctx, p.Path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	name := storage.Key(p.Path)
	if f.Size() != p.Size {
		return nil, 0, fmt.Errorf("%s changed since the bag was planned: %d bytes, was %d", name, f.Size(), p.Size)
	}
	if p.Gz {
		rc, err := f.NewRangeReader(ctx, 0, -1)
		if err != nil {
			return nil, 0, err
		}
		defer rc.Close()
		zr, err := gzip.NewReader(bufio.NewReaderSize(rc, 1<<20))
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: gzip: %w", name, err)
		}
		return b, 0, nil
	}
	begin, err := lineStart(f, p.Start, p.Size)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	stop := p.Size
	if p.End < p.Size {
		if stop, err = lineStart(f, p.End, p.Size); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
	}
	if stop <= begin {
		return nil, begin, nil
	}
	buf := make([]byte, stop-begin)
	if _, err := f.ReadAt(buf, begin); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	return buf, begin, nil
}

// lineStart is where a block cut at off starts: 0 for 0, otherwise just
// after the first newline at or after off (size if there is none).
func lineStart(f io.ReaderAt, off, size int64) (int64, error) {
	if off == 0 {
		return 0, nil
	}
	chunk := make([]byte, 64<<10)
	for pos := off; pos < size; {
		n, err := f.ReadAt(chunk[:min(int64(len(chunk)), size-pos)], pos)
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if n == 0 {
			break
		}
		pos += int64(n)
	}
	return size, nil
}

// linesPartition splits b into lines and encodes them as a partition of
// strings.
func linesPartition(b []byte) futures.Encoded {
	w := newPartWriter(len(b) + len(b)/16)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		w.addString(line)
	}
	return w.finish()
}

// lineOf is the 1-based line number in p's file of the element at index i
// of p's partition (read again only to name a bad line).
func lineOf(ctx context.Context, p TextPart, i int) (int64, error) {
	if p.Gz {
		return int64(i) + 1, nil
	}
	f, err := storage.Open(ctx, p.Path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	begin, err := lineStart(f, p.Start, p.Size)
	if err != nil {
		return 0, err
	}
	var lines int64
	chunk := make([]byte, 256<<10)
	for pos := int64(0); pos < begin; {
		n, err := f.ReadAt(chunk[:min(int64(len(chunk)), begin-pos)], pos)
		lines += int64(bytes.Count(chunk[:n], []byte{'\n'}))
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if n == 0 {
			break
		}
		pos += int64(n)
	}
	return lines + int64(i) + 1, nil
}
