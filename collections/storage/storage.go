// Package storage owns where the collections' files live: local paths and
// object stores behind one small API, for every reader and writer of the
// collections (dataframe ReadCSV/ReadParquet/ToCSV/ToParquet, bag
// ReadText/ToText, array .npy files).
//
// A location is a string: a local path ("data/x.csv", "/abs/x.csv",
// "file:///abs/x.csv"), or a URL of an object store:
//
//	s3://bucket/prefix/key        Amazon S3 and S3-compatible stores (aws-sdk-go-v2)
//	gs://bucket/prefix/key        Google Cloud Storage
//	https://host/path, http://…  any HTTP server that answers Range requests (read only, no listing)
//	mem://bucket/key              an in-memory bucket of this process (tests)
//
// Options travel in the URL's query, gocloud.dev's parameters
// (https://gocloud.dev/howto/blob/), so a URL alone is everything a worker
// needs: task specs carry the URL string, never a live client. For s3:
// region, endpoint (an S3-compatible store's address), use_path_style,
// disable_https, anonymous (or anon) =true for public buckets, profile;
// for gs: anonymous. Credentials come from each SDK's standard chain on
// the node that reads or writes (S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE and ~/.aws, AWS_ENDPOINT_URL(_S3), instance roles; GCS:
// GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default
// credentials, the metadata server; STORAGE_EMULATOR_HOST for an emulator).
//
// Reads are ranged: Open returns a Reader whose ReadAt and NewRangeReader
// fetch only the bytes asked for (small reads through a read-ahead
// buffer), so a task reads only its byte range of a CSV or text file, or
// its row groups of a Parquet file. Local files are read with the
// operating system's ReadAt, no copy added. Glob lists a prefix of the
// bucket (the key up to the first glob character) and matches keys with
// path.Match, so "*" does not cross "/" — as for local files. Create
// writes atomically: a local file appears (is renamed into place) when
// the writer is closed, an object when its upload completes; Abort
// discards it.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Info describes a file or an object.
type Info struct {
	// URL is the location as the package gives it back: an absolute local
	// path, or the object's URL with the query of the pattern it matched.
	URL     string
	Size    int64
	ModTime time.Time
	IsDir   bool // local directories only
}

// ErrReadOnly: a write to a location that cannot be written (http, https).
var ErrReadOnly = errors.New("read-only location")

// IsRemote tells whether loc is an object store URL (s3, gs, http(s),
// mem) rather than a local path.
func IsRemote(loc string) bool {
	scheme, _, ok := strings.Cut(loc, "://")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "s3", "gs", "http", "https", "mem":
		return true
	}
	return false
}

// localPath turns a local location (a path or a file:// URL) into an
// absolute path.
func localPath(loc string) (string, error) {
	if strings.HasPrefix(loc, "file://") {
		u, err := url.Parse(loc)
		if err != nil {
			return "", fmt.Errorf("storage: %q: %w", loc, err)
		}
		loc = u.Path
	}
	return filepath.Abs(loc)
}

// Abs is loc made absolute: a local path through filepath.Abs, a URL as it
// is.
func Abs(loc string) (string, error) {
	if IsRemote(loc) {
		return loc, nil
	}
	return localPath(loc)
}

// Join appends name (slash-separated) to a directory location: a local
// path through filepath.Join, a URL's key with "/" (its query kept).
func Join(dir, name string) string {
	if !IsRemote(dir) {
		return filepath.Join(dir, filepath.FromSlash(name))
	}
	base, q, _ := strings.Cut(dir, "?")
	out := strings.TrimSuffix(base, "/") + "/" + name
	if q != "" {
		out += "?" + q
	}
	return out
}

// Dir is the directory (for a URL, the key's prefix up to its last "/")
// of loc.
func Dir(loc string) string {
	if !IsRemote(loc) {
		return filepath.Dir(loc)
	}
	base, q, _ := strings.Cut(loc, "?")
	i := strings.LastIndex(base, "/")
	if j := strings.Index(base, "://"); i < j+3 {
		i = len(base)
	}
	out := base[:i]
	if q != "" {
		out += "?" + q
	}
	return out
}

// Base is the last element of loc's path (for a URL, of its key).
func Base(loc string) string {
	if !IsRemote(loc) {
		return filepath.Base(loc)
	}
	base, _, _ := strings.Cut(loc, "?")
	return path.Base(base)
}

// Key is loc's path without its query: the local path, or for a URL its
// scheme, bucket and key (what a message should name).
func Key(loc string) string {
	if !IsRemote(loc) {
		return loc
	}
	base, _, _ := strings.Cut(loc, "?")
	return base
}

// Stat describes the file or object at loc.
func Stat(ctx context.Context, loc string) (Info, error) {
	if !IsRemote(loc) {
		p, err := localPath(loc)
		if err != nil {
			return Info{}, err
		}
		st, err := os.Stat(p)
		if err != nil {
			return Info{}, err
		}
		return Info{URL: p, Size: st.Size(), ModTime: st.ModTime(), IsDir: st.IsDir()}, nil
	}
	rl, err := parse(ctx, loc)
	if err != nil {
		return Info{}, err
	}
	info, err := rl.b.stat(ctx, rl.key)
	if err != nil {
		return Info{}, rl.explain("stat", err)
	}
	info.URL = loc
	return info, nil
}

// IsDir tells whether loc is a directory: a local directory, or a prefix
// of a bucket that holds objects under loc + "/" (and no object loc
// itself). An error only when the store cannot answer.
func IsDir(ctx context.Context, loc string) (bool, error) {
	if !IsRemote(loc) {
		p, err := localPath(loc)
		if err != nil {
			return false, err
		}
		st, err := os.Stat(p)
		return err == nil && st.IsDir(), nil
	}
	rl, err := parse(ctx, loc)
	if err != nil {
		return false, err
	}
	if !rl.b.canList() {
		return false, nil
	}
	key := strings.TrimSuffix(rl.key, "/")
	if key != "" && !strings.HasSuffix(rl.key, "/") {
		if ok, err := rl.b.exists(ctx, key); err != nil {
			return false, rl.explain("stat", err)
		} else if ok {
			return false, nil
		}
	}
	prefix := key + "/"
	if key == "" {
		prefix = ""
	}
	found := false
	err = rl.b.list(ctx, prefix, func(Info) bool { found = true; return false })
	if err != nil {
		return false, rl.explain("list", err)
	}
	return found, nil
}

// hasMeta: s holds a glob character.
func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// Glob lists the locations matching pattern, sorted: filepath.Glob for a
// local pattern (the paths made absolute), a listing of the bucket for a
// URL (keys matched with path.Match; the pattern's query is kept on every
// URL). A URL without glob characters is returned if the object exists.
// No match is no error (an empty list).
func Glob(ctx context.Context, pattern string) ([]string, error) {
	infos, err := List(ctx, pattern)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.URL
	}
	return out, nil
}

// List is Glob with each match's size and modification time (for a local
// pattern, directories are listed too, with IsDir set).
func List(ctx context.Context, pattern string) ([]Info, error) {
	if !IsRemote(pattern) {
		p := pattern
		if strings.HasPrefix(p, "file://") {
			var err error
			if p, err = localPath(p); err != nil {
				return nil, err
			}
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", pattern, err)
		}
		slices.Sort(matches)
		var out []Info
		for _, m := range matches {
			abs, err := filepath.Abs(m)
			if err != nil {
				return nil, err
			}
			st, err := os.Stat(abs)
			if err != nil {
				continue // gone since, or a dangling link
			}
			out = append(out, Info{URL: abs, Size: st.Size(), ModTime: st.ModTime(), IsDir: st.IsDir()})
		}
		return out, nil
	}
	rl, err := parse(ctx, pattern)
	if err != nil {
		return nil, err
	}
	if !hasMeta(rl.key) {
		info, err := rl.b.stat(ctx, rl.key)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, rl.explain("stat", err)
		}
		info.URL = rl.with(rl.key)
		return []Info{info}, nil
	}
	if !rl.b.canList() {
		return nil, fmt.Errorf("%s: %s URLs cannot be listed, so they cannot hold glob characters (*, ?, [): give each file's URL", Key(pattern), rl.scheme)
	}
	if _, err := path.Match(rl.key, ""); err != nil {
		return nil, fmt.Errorf("%q: %w", pattern, err)
	}
	prefix := rl.key
	if i := strings.IndexAny(prefix, `*?[\`); i >= 0 {
		prefix = prefix[:i]
	}
	var out []Info
	err = rl.b.list(ctx, prefix, func(in Info) bool {
		if ok, _ := path.Match(rl.key, in.URL); ok {
			in.URL = rl.with(in.URL)
			out = append(out, in)
		}
		return true
	})
	if err != nil {
		return nil, rl.explain("list", err)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.URL, b.URL) })
	return out, nil
}

// Exists tells whether a file or object exists at loc.
func Exists(ctx context.Context, loc string) (bool, error) {
	if !IsRemote(loc) {
		p, err := localPath(loc)
		if err != nil {
			return false, err
		}
		_, err = os.Lstat(p)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	rl, err := parse(ctx, loc)
	if err != nil {
		return false, err
	}
	ok, err := rl.b.exists(ctx, rl.key)
	if err != nil {
		return false, rl.explain("stat", err)
	}
	return ok, nil
}

// Delete removes the file or object at loc (a missing one is no error).
func Delete(ctx context.Context, loc string) error {
	if !IsRemote(loc) {
		p, err := localPath(loc)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	rl, err := parse(ctx, loc)
	if err != nil {
		return err
	}
	if err := rl.b.delete(ctx, rl.key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rl.explain("delete", err)
	}
	return nil
}

// ReadFile reads the whole file or object at loc.
func ReadFile(ctx context.Context, loc string) ([]byte, error) {
	if !IsRemote(loc) {
		p, err := localPath(loc)
		if err != nil {
			return nil, err
		}
		return os.ReadFile(p)
	}
	r, err := Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, r.Size())
	if _, err := r.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
		return nil, err
	}
	return buf, nil
}

// CheckWritable tells early whether dir can take new files: a local
// directory is created (with its parents) and a probe file written and
// removed in it; a URL is checked for a read-only scheme only (a bucket's
// permissions show at the first write).
func CheckWritable(ctx context.Context, dir string) error {
	if !IsRemote(dir) {
		p, err := localPath(dir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("cannot create the output directory: %w", err)
		}
		f, err := os.CreateTemp(p, ".mesh-write-check-*")
		if err != nil {
			return fmt.Errorf("cannot write to the output directory %s: %w", p, err)
		}
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	rl, err := parse(ctx, dir)
	if err != nil {
		return err
	}
	if !rl.b.canWrite() {
		return fmt.Errorf("%s: %w: %s URLs can only be read; write to s3://, gs:// or a local path", Key(dir), ErrReadOnly, rl.scheme)
	}
	return nil
}

// remoteLoc is a parsed URL: its backend (a bucket or an HTTP server) and
// the key in it.
type remoteLoc struct {
	loc    string
	scheme string
	b      backend
	key    string
	// prefix and query rebuild a URL for another key of the same bucket.
	prefix, query string
}

// with is the URL of key in rl's bucket, with rl's query.
func (rl remoteLoc) with(key string) string {
	u := rl.prefix + (&url.URL{Path: key}).EscapedPath()
	if rl.query != "" {
		u += "?" + rl.query
	}
	return u
}

func parse(ctx context.Context, loc string) (remoteLoc, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return remoteLoc{}, fmt.Errorf("storage: %q is not a valid URL: %w", loc, err)
	}
	scheme := strings.ToLower(u.Scheme)
	rl := remoteLoc{loc: loc, scheme: scheme}
	if scheme == "http" || scheme == "https" {
		rl.b = httpBackend{base: u}
		rl.key = u.Path
		rl.prefix = scheme + "://" + u.Host
		rl.query = u.RawQuery
		return rl, nil
	}
	if u.Host == "" {
		return remoteLoc{}, fmt.Errorf("storage: %q has no bucket (want %s://bucket/key)", loc, scheme)
	}
	rl.key = strings.TrimPrefix(u.Path, "/")
	rl.prefix = scheme + "://" + u.Host + "/"
	rl.query = u.RawQuery
	b, err := openBucket(ctx, scheme, u.Host, u.Query())
	if err != nil {
		return remoteLoc{}, fmt.Errorf("storage: open %s: %w", Key(loc), err)
	}
	rl.b = b
	return rl, nil
}

// buckets caches the opened buckets of this process by scheme, bucket and
// options: opening one (loading a credential chain) costs more than a
// task's read.
var buckets struct {
	sync.Mutex
	m map[string]backend
}

func openBucket(ctx context.Context, scheme, host string, q url.Values) (backend, error) {
	key := scheme + "://" + host + "?" + q.Encode()
	buckets.Lock()
	defer buckets.Unlock()
	if b, ok := buckets.m[key]; ok {
		return b, nil
	}
	b, err := newBlobBackend(context.WithoutCancel(ctx), scheme, host, q)
	if err != nil {
		return nil, err
	}
	if buckets.m == nil {
		buckets.m = map[string]backend{}
	}
	buckets.m[key] = b
	return b, nil
}

// explain wraps a backend's error with the URL and what to do.
func (rl remoteLoc) explain(op string, err error) error {
	return explain(rl.scheme, Key(rl.loc), op, err)
}
