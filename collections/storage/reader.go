package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ReadAhead is how much a small ReadAt of an object fetches at once (kept
// for the next small reads: a CSV header, a Parquet footer, line ends).
// A read at least this long goes to the store directly, into the caller's
// buffer.
const ReadAhead = 256 << 10

// Reader reads a file or an object: its size and modification time as
// opened, ReadAt (an io.ReaderAt, safe for concurrent use) and ranged
// streams. Close it when done.
type Reader struct {
	loc  string
	size int64
	mod  time.Time

	f *os.File // a local file

	// an object
	ctx context.Context
	rl  remoteLoc
	mu  sync.Mutex
	buf []byte // read-ahead: the bytes at bufOff
	off int64
}

// Open opens the file or object at loc for reading. ctx bounds an
// object's reads (ReadAt has no context of its own).
func Open(ctx context.Context, loc string) (*Reader, error) {
	if !IsRemote(loc) {
		p, err := localPath(loc)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if st.IsDir() {
			f.Close()
			return nil, fmt.Errorf("%s is a directory", p)
		}
		return &Reader{loc: p, size: st.Size(), mod: st.ModTime(), f: f}, nil
	}
	rl, err := parse(ctx, loc)
	if err != nil {
		return nil, err
	}
	info, err := rl.b.stat(ctx, rl.key)
	if err != nil {
		return nil, rl.explain("open", err)
	}
	return &Reader{loc: loc, size: info.Size, mod: info.ModTime, ctx: ctx, rl: rl}, nil
}

// Name is the location opened (a local path made absolute, or the URL).
func (r *Reader) Name() string { return r.loc }

// Size is the file's size when opened.
func (r *Reader) Size() int64 { return r.size }

// ModTime is the file's modification time when opened.
func (r *Reader) ModTime() time.Time { return r.mod }

// File is the local file under r (nil for an object).
func (r *Reader) File() *os.File { return r.f }

// Close releases the file (an object holds nothing open between reads).
func (r *Reader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	r.mu.Lock()
	r.buf = nil
	r.mu.Unlock()
	return nil
}

// ReadAt reads len(p) bytes at off (io.ReaderAt: fewer only at the end,
// with io.EOF).
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if r.f != nil {
		return r.f.ReadAt(p, off)
	}
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset %d", Key(r.loc), off)
	}
	if off >= r.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := p
	if int64(len(want)) > r.size-off {
		want = want[:r.size-off]
	}
	var n int
	var err error
	if len(want) >= ReadAhead {
		// What the read-ahead block holds of the start is copied (a CSV
		// range's first read is one byte before it), the rest fetched.
		k := r.cached(want, off)
		if k < len(want) {
			n, err = r.fetch(want[k:], off+int64(k))
		}
		n += k
	} else {
		n, err = r.buffered(want, off)
	}
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// cached copies into p what the read-ahead block holds from off on, and
// says how much.
func (r *Reader) cached(p []byte, off int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < r.off || off >= r.off+int64(len(r.buf)) {
		return 0
	}
	return copy(p, r.buf[off-r.off:])
}

// buffered serves a small read from the read-ahead buffer, filling it from
// off when it does not hold the range.
func (r *Reader) buffered(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off >= r.off && off+int64(len(p)) <= r.off+int64(len(r.buf)) {
		return copy(p, r.buf[off-r.off:]), nil
	}
	// Near the end, the block ends at the end: a Parquet footer's reads
	// (its length, then the footer before it) take one request.
	start := off
	if start+ReadAhead > r.size {
		start = max(0, r.size-ReadAhead)
	}
	n := min(int64(ReadAhead), r.size-start)
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	m, err := r.fetch(r.buf, start)
	r.buf = r.buf[:m]
	r.off = start
	got := r.buf[min(off-start, int64(m)):]
	if len(got) < len(p) {
		return copy(p, got), err
	}
	return copy(p, got), nil
}

// fetch reads p at off with one ranged request.
func (r *Reader) fetch(p []byte, off int64) (int, error) {
	rc, err := r.rl.b.rangeReader(r.ctx, r.rl.key, off, int64(len(p)))
	if err != nil {
		return 0, r.rl.explain(fmt.Sprintf("read [%d, %d)", off, off+int64(len(p))), err)
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return n, fmt.Errorf("%s: read [%d, %d): the object ended at %d: it changed since it was opened: %w", Key(r.loc), off, off+int64(len(p)), off+int64(n), io.ErrUnexpectedEOF)
		}
		return n, r.rl.explain(fmt.Sprintf("read [%d, %d)", off, off+int64(len(p))), err)
	}
	return n, nil
}

// NewRangeReader streams n bytes from off (n < 0: to the end). Close it
// when done.
func (r *Reader) NewRangeReader(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if n < 0 || off+n > r.size {
		n = max(r.size-off, 0)
	}
	if r.f != nil {
		return io.NopCloser(io.NewSectionReader(r.f, off, n)), nil
	}
	rc, err := r.rl.b.rangeReader(ctx, r.rl.key, off, n)
	if err != nil {
		return nil, r.rl.explain("read", err)
	}
	return rc, nil
}

// Writer writes a file or an object that appears whole when Close
// succeeds; Abort discards it.
type Writer struct {
	loc string
	n   int64

	f          *os.File // local: the temporary file, renamed to final
	tmp, final string

	w      io.WriteCloser // an object's upload
	cancel context.CancelFunc
	rl     remoteLoc
	done   bool
}

// Create starts writing the file or object at loc (replacing an existing
// one when closed). A local file's directories are created; it is written
// to a temporary file beside it and renamed into place by Close.
func Create(ctx context.Context, loc string) (*Writer, error) {
	if !IsRemote(loc) {
		p, err := localPath(loc)
		if err != nil {
			return nil, err
		}
		dir, base := splitLocal(p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, "."+base+".*.tmp")
		if err != nil {
			return nil, err
		}
		if err := f.Chmod(0o644); err != nil { // CreateTemp's 0600 is for secrets
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		return &Writer{loc: p, f: f, tmp: f.Name(), final: p}, nil
	}
	rl, err := parse(ctx, loc)
	if err != nil {
		return nil, err
	}
	if !rl.b.canWrite() {
		return nil, fmt.Errorf("%s: %w: %s URLs can only be read; write to s3://, gs:// or a local path", Key(loc), ErrReadOnly, rl.scheme)
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := rl.b.writer(wctx, rl.key)
	if err != nil {
		cancel()
		return nil, rl.explain("create", err)
	}
	return &Writer{loc: loc, w: w, cancel: cancel, rl: rl}, nil
}

// Name is the location written.
func (w *Writer) Name() string { return w.loc }

// Written is how many bytes were written.
func (w *Writer) Written() int64 { return w.n }

func (w *Writer) Write(p []byte) (int, error) {
	var n int
	var err error
	if w.f != nil {
		n, err = w.f.Write(p)
	} else {
		n, err = w.w.Write(p)
		if err != nil {
			err = w.rl.explain("write", err)
		}
	}
	w.n += int64(n)
	return n, err
}

// Close completes the file: renames a local one into place, finishes an
// object's upload. On an error nothing is left behind.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			os.Remove(w.tmp)
			return err
		}
		if err := os.Rename(w.tmp, w.final); err != nil {
			os.Remove(w.tmp)
			return err
		}
		return nil
	}
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		return w.rl.explain("write", err)
	}
	return nil
}

// Abort discards what was written (after Close, it does nothing).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.f != nil {
		w.f.Close()
		os.Remove(w.tmp)
		return
	}
	w.cancel() // a canceled upload is not completed
	w.w.Close()
}
