package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/collections/storage/storagetest"
	"github.com/meshcompute/mesh/collections/storage/storagetest/fakegcs"
)

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// checkReads reads loc's ranges with ReadAt (small, through the read-ahead
// buffer, and large) and NewRangeReader, and compares with want.
func checkReads(t *testing.T, ctx context.Context, loc string, want []byte) {
	t.Helper()
	r, err := storage.Open(ctx, loc)
	if err != nil {
		t.Fatalf("open %s: %v", loc, err)
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		t.Fatalf("%s: size %d, want %d", loc, r.Size(), len(want))
	}
	n := int64(len(want))
	for _, c := range [][2]int64{{0, 4}, {n - 4, n}, {10, 100}, {100, 5000}, {ReadAheadPlus(0), ReadAheadPlus(3000)}, {1, n}, {0, n}, {n / 2, n}} {
		p := make([]byte, c[1]-c[0])
		k, err := r.ReadAt(p, c[0])
		if err != nil || !bytes.Equal(p[:k], want[c[0]:c[1]]) {
			t.Fatalf("%s: ReadAt [%d,%d): %d bytes, %v (equal %v)", loc, c[0], c[1], k, err, bytes.Equal(p[:k], want[c[0]:c[1]]))
		}
	}
	// past the end: fewer bytes and io.EOF
	p := make([]byte, 100)
	k, err := r.ReadAt(p, n-10)
	if k != 10 || !errors.Is(err, io.EOF) || !bytes.Equal(p[:10], want[n-10:]) {
		t.Fatalf("%s: ReadAt past the end: %d, %v", loc, k, err)
	}
	rc, err := r.NewRangeReader(ctx, 1000, 2000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, want[1000:3000]) {
		t.Fatalf("%s: range reader: %d bytes, %v", loc, len(got), err)
	}
	rc, err = r.NewRangeReader(ctx, n-5, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, want[n-5:]) {
		t.Fatalf("%s: range reader to the end: %q", loc, got)
	}
}

func ReadAheadPlus(n int64) int64 { return storage.ReadAhead + n }

// checkStore runs the same checks on any writable store rooted at dir
// (a local directory or a bucket URL prefix).
func checkStore(t *testing.T, dir string) {
	ctx := context.Background()
	big := data(storage.ReadAhead*2 + 12345)
	for _, name := range []string{"a/x1.csv", "a/x2.csv", "a/y.txt", "a/sub/x3.csv", "b/x4.csv"} {
		w, err := storage.Create(ctx, storage.Join(dir, name))
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if _, err := w.Write(big); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("close %s: %v", name, err)
		}
	}
	checkReads(t, ctx, storage.Join(dir, "a/x1.csv"), big)

	got, err := storage.Glob(ctx, storage.Join(dir, "a/*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{storage.Join(dir, "a/x1.csv"), storage.Join(dir, "a/x2.csv")}
	if !slices.Equal(got, want) {
		t.Fatalf("glob a/*.csv: %v, want %v", got, want)
	}
	got, _ = storage.Glob(ctx, storage.Join(dir, "*/x[14].csv"))
	if want := []string{storage.Join(dir, "a/x1.csv"), storage.Join(dir, "b/x4.csv")}; !slices.Equal(got, want) {
		t.Fatalf("glob */x[14].csv: %v, want %v", got, want)
	}
	got, _ = storage.Glob(ctx, storage.Join(dir, "nothing/*.csv"))
	if len(got) != 0 {
		t.Fatalf("glob of nothing: %v", got)
	}
	if ok, err := storage.IsDir(ctx, storage.Join(dir, "a")); !ok || err != nil {
		t.Fatalf("IsDir a: %v %v", ok, err)
	}
	if ok, _ := storage.IsDir(ctx, storage.Join(dir, "a/x1.csv")); ok {
		t.Fatal("IsDir of a file")
	}
	info, err := storage.Stat(ctx, storage.Join(dir, "a/x2.csv"))
	if err != nil || info.Size != int64(len(big)) || info.ModTime.IsZero() {
		t.Fatalf("stat: %+v %v", info, err)
	}
	if _, err := storage.Stat(ctx, storage.Join(dir, "a/none.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := storage.Open(ctx, storage.Join(dir, "a/none.csv")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "none.csv") {
		t.Fatalf("open of a missing file: %v, want fs.ErrNotExist naming it", err)
	}

	// An aborted write leaves nothing; a completed one replaces.
	w, err := storage.Create(ctx, storage.Join(dir, "a/x1.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	w.Abort()
	b, err := storage.ReadFile(ctx, storage.Join(dir, "a/x1.csv"))
	if err != nil || !bytes.Equal(b, big) {
		t.Fatalf("after an aborted write: %d bytes, %v", len(b), err)
	}
	w, _ = storage.Create(ctx, storage.Join(dir, "c/new.txt"))
	w.Write([]byte("hello\n"))
	w.Abort()
	if ok, _ := storage.Exists(ctx, storage.Join(dir, "c/new.txt")); ok {
		t.Fatal("an aborted new file exists")
	}
	w, _ = storage.Create(ctx, storage.Join(dir, "c/new.txt"))
	w.Write([]byte("hello\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := storage.ReadFile(ctx, storage.Join(dir, "c/new.txt")); string(b) != "hello\n" {
		t.Fatalf("read back %q", b)
	}
	if err := storage.Delete(ctx, storage.Join(dir, "c/new.txt")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := storage.Exists(ctx, storage.Join(dir, "c/new.txt")); ok {
		t.Fatal("deleted, still exists")
	}
	if err := storage.Delete(ctx, storage.Join(dir, "c/new.txt")); err != nil {
		t.Fatalf("deleting a missing file: %v", err)
	}
	// An empty object.
	w, _ = storage.Create(ctx, storage.Join(dir, "empty"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := storage.Open(ctx, storage.Join(dir, "empty"))
	if err != nil || r.Size() != 0 {
		t.Fatalf("empty: %v", err)
	}
	if n, err := r.ReadAt(make([]byte, 4), 0); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("empty ReadAt: %d %v", n, err)
	}
	r.Close()
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	checkStore(t, dir)
	// No temporary file is left behind.
	var tmp []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if strings.HasSuffix(p, ".tmp") {
			tmp = append(tmp, p)
		}
		return nil
	})
	if len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	// Local files are read through the OS file, and file:// URLs are local paths.
	r, err := storage.Open(context.Background(), "file://"+filepath.Join(dir, "a/x1.csv"))
	if err != nil || r.File() == nil {
		t.Fatalf("file:// open: %v", err)
	}
	r.Close()
	if storage.IsRemote(dir) || !storage.IsRemote("s3://b/k") || !storage.IsRemote("gs://b/k") || !storage.IsRemote("https://h/p") {
		t.Fatal("IsRemote")
	}
}

func TestPathHelpers(t *testing.T) {
	for _, c := range [][3]string{
		{"s3://b/p?endpoint=x", "a.csv", "s3://b/p/a.csv?endpoint=x"},
		{"s3://b/p/", "a.csv", "s3://b/p/a.csv"},
		{"gs://b", "a.csv", "gs://b/a.csv"},
	} {
		if got := storage.Join(c[0], c[1]); got != c[2] {
			t.Errorf("Join(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
	if got := storage.Dir("s3://b/p/a.csv?x=1"); got != "s3://b/p?x=1" {
		t.Errorf("Dir: %q", got)
	}
	if got := storage.Dir("s3://b"); got != "s3://b" {
		t.Errorf("Dir of a bucket: %q", got)
	}
	if got := storage.Base("s3://b/p/a.csv?x=1"); got != "a.csv" {
		t.Errorf("Base: %q", got)
	}
	if got := storage.Key("s3://b/p/a.csv?x=1"); got != "s3://b/p/a.csv" {
		t.Errorf("Key: %q", got)
	}
}

func TestMem(t *testing.T) {
	checkStore(t, "mem://test-mem/root")
}

func TestS3(t *testing.T) {
	s := storagetest.StartS3(t)
	s.Bucket(t, "data")
	checkStore(t, "s3://data/root?"+s.Query)
	// Objects written with the SDK are listed and read; keys with spaces
	// and other characters round-trip through URLs.
	s.Put(t, "data", "sdk/one two.csv", []byte("a,b\n1,2\n"))
	s.Put(t, "data", "sdk/x#y.csv", []byte("a,b\n3,4\n"))
	ctx := context.Background()
	got, err := storage.Glob(ctx, "s3://data/sdk/*.csv?"+s.Query)
	if err != nil || len(got) != 2 {
		t.Fatalf("glob: %v %v", got, err)
	}
	for _, u := range got {
		b, err := storage.ReadFile(ctx, u)
		if err != nil || !strings.HasPrefix(string(b), "a,b\n") {
			t.Fatalf("read %s: %q %v", u, b, err)
		}
	}
	// What storage wrote, the SDK reads.
	if b := s.Get(t, "data", "root/a/x2.csv"); len(b) != storage.ReadAhead*2+12345 {
		t.Fatalf("the SDK reads %d bytes of what storage wrote", len(b))
	}
	if keys := s.Keys(t, "data", "root/a/"); len(keys) != 4 {
		t.Fatalf("keys under root/a/: %v", keys)
	}
	// anon=true: a private bucket refuses, a public one answers.
	if _, err := storage.Stat(ctx, "s3://data/root/a/x1.csv?anon=true&"+s.Query); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("anon on a private bucket: %v, want access denied", err)
	}
	s.Bucket(t, "public")
	s.Put(t, "public", "p/one.txt", []byte("hello\n"))
	s.Public(t, "public")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	got, err = storage.Glob(ctx, "s3://public/p/*.txt?anon=true&"+s.Query)
	if err != nil || len(got) != 1 {
		t.Fatalf("anon glob of a public bucket: %v %v", got, err)
	}
	if b, err := storage.ReadFile(ctx, got[0]); err != nil || string(b) != "hello\n" {
		t.Fatalf("anon read of a public bucket: %q %v", b, err)
	}
	// A missing bucket names the URL.
	if _, err := storage.Glob(ctx, "s3://nobucket/x/*.csv?"+s.Query); err == nil || !strings.Contains(err.Error(), "s3://nobucket/x/*.csv") {
		t.Fatalf("missing bucket: %v", err)
	}
}

func TestS3MissingCredentials(t *testing.T) {
	s := storagetest.StartS3(t)
	s.Bucket(t, "data")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A query of its own: a bucket opened with credentials is cached by URL.
	_, err := storage.Stat(ctx, "s3://data/x.csv?"+s.Query+"&profile=")
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "anon=true") {
		t.Fatalf("missing credentials: %v, want a hint naming AWS_ACCESS_KEY_ID and anon=true", err)
	}
}

func TestGCS(t *testing.T) {
	fakegcs.Start(t, "gdata")
	checkStore(t, "gs://gdata/root")
}

func TestHTTP(t *testing.T) {
	dir := t.TempDir()
	big := data(storage.ReadAhead*2 + 999)
	os.WriteFile(filepath.Join(dir, "f.bin"), big, 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	ctx := context.Background()
	checkReads(t, ctx, srv.URL+"/f.bin", big)
	if _, err := storage.Create(ctx, srv.URL+"/g.bin"); !errors.Is(err, storage.ErrReadOnly) {
		t.Fatalf("create over http: %v", err)
	}
	if _, err := storage.Glob(ctx, srv.URL+"/*.bin"); err == nil || !strings.Contains(err.Error(), "cannot be listed") {
		t.Fatalf("glob over http: %v", err)
	}
	got, err := storage.Glob(ctx, srv.URL+"/f.bin")
	if err != nil || len(got) != 1 {
		t.Fatalf("glob of one URL: %v %v", got, err)
	}
	if _, err := storage.Open(ctx, srv.URL+"/none.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing over http: %v", err)
	}
}

// countingServer serves dir and counts requests and body bytes.
type countingServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	bytes    int64
	ranges   []string
}

func newCountingServer(t *testing.T, dir string) *countingServer {
	cs := &countingServer{}
	fsrv := http.FileServer(http.Dir(dir))
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted before the client can have them.
		cs.mu.Lock()
		cs.requests++
		cs.ranges = append(cs.ranges, r.Method+" "+r.Header.Get("Range"))
		cs.mu.Unlock()
		fsrv.ServeHTTP(&countingWriter{ResponseWriter: w, cs: cs}, r)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *countingServer) reset() (int, int64, []string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	r, b, g := cs.requests, cs.bytes, cs.ranges
	cs.requests, cs.bytes, cs.ranges = 0, 0, nil
	return r, b, g
}

type countingWriter struct {
	http.ResponseWriter
	cs *countingServer
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.cs.mu.Lock()
	c.cs.bytes += int64(len(p))
	c.cs.mu.Unlock()
	return c.ResponseWriter.Write(p)
}

// Ranged reads fetch what is asked: a large ReadAt is one request of its
// size, small reads near the end (a Parquet footer's) share one
// read-ahead block, and nothing else of the file is read.
func TestRangedReadsFetchOnlyTheirRange(t *testing.T) {
	dir := t.TempDir()
	size := 10 << 20
	os.WriteFile(filepath.Join(dir, "f.bin"), data(size), 0o644)
	cs := newCountingServer(t, dir)
	ctx := context.Background()
	r, err := storage.Open(ctx, cs.URL+"/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cs.reset()
	p := make([]byte, 2<<20)
	if _, err := r.ReadAt(p, 3<<20); err != nil {
		t.Fatal(err)
	}
	if n, b, rs := cs.reset(); n != 1 || b != 2<<20 {
		t.Fatalf("a 2 MiB ReadAt: %d requests, %d bytes (%v); want 1 request of 2 MiB", n, b, rs)
	}
	// A footer: its length at the end, then the footer before it.
	r.ReadAt(make([]byte, 8), int64(size-8))
	r.ReadAt(make([]byte, 30000), int64(size-8-30000))
	r.ReadAt(make([]byte, 4), int64(size-4))
	if n, b, rs := cs.reset(); n != 1 || b != storage.ReadAhead {
		t.Fatalf("footer reads: %d requests, %d bytes (%v); want 1 of %d", n, b, rs, storage.ReadAhead)
	}
	// A byte before a range, then the range: the block's bytes are not
	// fetched again.
	r.ReadAt(make([]byte, 1), 1<<20)
	if _, err := r.ReadAt(p, 1<<20+1); err != nil {
		t.Fatal(err)
	}
	if n, b, rs := cs.reset(); n != 2 || b != 1+2<<20 {
		t.Fatalf("a byte, then 2 MiB after it: %d requests, %d bytes (%v); want 2, %d", n, b, rs, 1+2<<20)
	}
	rc, _ := r.NewRangeReader(ctx, 5000, 1000)
	io.Copy(io.Discard, rc)
	rc.Close()
	if n, b, rs := cs.reset(); n != 1 || b != 1000 {
		t.Fatalf("a range reader: %d requests, %d bytes (%v)", n, b, rs)
	}
}
