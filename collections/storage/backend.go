package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// backend is an object store: a bucket, or an HTTP server.
type backend interface {
	stat(ctx context.Context, key string) (Info, error) // fs.ErrNotExist when missing
	exists(ctx context.Context, key string) (bool, error)
	rangeReader(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	canList() bool
	list(ctx context.Context, prefix string, each func(Info) bool) error // Info.URL is the key
	canWrite() bool
	writer(ctx context.Context, key string) (io.WriteCloser, error)
	delete(ctx context.Context, key string) error
}

func splitLocal(p string) (string, string) { return filepath.Dir(p), filepath.Base(p) }

// blobBackend is a gocloud.dev bucket (s3blob on aws-sdk-go-v2, gcsblob,
// memblob).
type blobBackend struct{ b *blob.Bucket }

func newBlobBackend(ctx context.Context, scheme, host string, q url.Values) (backend, error) {
	q = cloneValues(q)
	// anon=true, as Dask's storage_options={"anon": True}, is gocloud's
	// anonymous=true.
	if v := q.Get("anon"); v != "" {
		q.Del("anon")
		q.Set("anonymous", v)
	}
	u := &url.URL{Scheme: scheme, Host: host}
	var b *blob.Bucket
	var err error
	switch scheme {
	case "s3":
		// An S3-compatible store ignores the region, but the SDK needs
		// one: us-east-1 unless the URL, the environment or a profile gives
		// it.
		if q.Get("region") == "" && q.Get("profile") == "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" && os.Getenv("AWS_PROFILE") == "" {
			q.Set("region", "us-east-1")
		}
		u.RawQuery = q.Encode()
		b, err = (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
	case "gs":
		u.RawQuery = q.Encode()
		b, err = blob.DefaultURLMux().OpenBucketURL(ctx, u)
	case "mem":
		if len(q) > 0 {
			return nil, fmt.Errorf("mem:// URLs take no options (got %s)", q.Encode())
		}
		b = memblob.OpenBucket(nil)
	default:
		return nil, fmt.Errorf("unknown scheme %q (want s3, gs, http, https or mem)", scheme)
	}
	if err != nil {
		return nil, err
	}
	return blobBackend{b}, nil
}

// The drivers register themselves; named here so that the imports stay.
var _ = gcsblob.Scheme

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func notExist(err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

func (b blobBackend) stat(ctx context.Context, key string) (Info, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return Info{}, notExist(err)
	}
	return Info{URL: key, Size: a.Size, ModTime: a.ModTime}, nil
}

func (b blobBackend) exists(ctx context.Context, key string) (bool, error) {
	return b.b.Exists(ctx, key)
}

func (b blobBackend) rangeReader(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	r, err := b.b.NewRangeReader(ctx, key, off, n, nil)
	if err != nil {
		return nil, notExist(err)
	}
	return r, nil
}

func (b blobBackend) canList() bool  { return true }
func (b blobBackend) canWrite() bool { return true }

func (b blobBackend) list(ctx context.Context, prefix string, each func(Info) bool) error {
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.IsDir {
			continue
		}
		if !each(Info{URL: o.Key, Size: o.Size, ModTime: o.ModTime}) {
			return nil
		}
	}
}

func (b blobBackend) writer(ctx context.Context, key string) (io.WriteCloser, error) {
	return b.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/octet-stream"})
}

func (b blobBackend) delete(ctx context.Context, key string) error {
	return notExist(b.b.Delete(ctx, key))
}

// httpBackend reads files of an HTTP server with Range requests.
type httpBackend struct{ base *url.URL }

var httpClient = &http.Client{Transport: http.DefaultTransport}

func (h httpBackend) url(key string) string {
	u := *h.base
	u.Path = key
	u.RawPath = ""
	return u.String()
}

func (h httpBackend) stat(ctx context.Context, key string) (Info, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, h.url(key), nil)
	if err != nil {
		return Info{}, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return Info{}, fmt.Errorf("%w: HTTP %s", fs.ErrNotExist, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return Info{}, fmt.Errorf("HEAD: HTTP %s", resp.Status)
	}
	if resp.ContentLength < 0 {
		return Info{}, fmt.Errorf("the server gives no Content-Length: it cannot be read in ranges")
	}
	mod, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return Info{URL: key, Size: resp.ContentLength, ModTime: mod}, nil
}

func (h httpBackend) exists(ctx context.Context, key string) (bool, error) {
	_, err := h.stat(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (h httpBackend) rangeReader(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url(key), nil)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10))
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		return resp.Body, nil
	case http.StatusOK:
		if off == 0 {
			return struct {
				io.Reader
				io.Closer
			}{io.LimitReader(resp.Body, n), resp.Body}, nil
		}
		resp.Body.Close()
		return nil, fmt.Errorf("the server ignores Range requests (HTTP 200 for bytes %d-): it cannot be read in parts; download the file, or read it with BlockSize(0)", off)
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: HTTP %s", fs.ErrNotExist, resp.Status)
	}
	resp.Body.Close()
	return nil, fmt.Errorf("GET: HTTP %s", resp.Status)
}

func (h httpBackend) canList() bool  { return false }
func (h httpBackend) canWrite() bool { return false }

func (h httpBackend) list(context.Context, string, func(Info) bool) error {
	return errors.New("HTTP servers cannot be listed")
}

func (h httpBackend) writer(context.Context, string) (io.WriteCloser, error) { return nil, ErrReadOnly }
func (h httpBackend) delete(context.Context, string) error                   { return ErrReadOnly }

// explain wraps err with the location, the operation, and what to do for
// the common failures (missing credentials, access denied).
func explain(scheme, loc, op string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: not found: %w", op, loc, err)
	}
	msg := err.Error()
	hint := ""
	switch scheme {
	case "s3":
		switch {
		case strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "no EC2 IMDS role") ||
			strings.Contains(msg, "get credentials"):
			hint = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / ~/.aws/credentials, or an instance role) on every node, or add ?anon=true to the URL for a public bucket"
		case gcerrors.Code(err) == gcerrors.PermissionDenied:
			hint = "access denied: check that the credentials on every node may use this bucket, or add ?anon=true for a public bucket"
		case strings.Contains(msg, "connect: connection refused") || strings.Contains(msg, "no such host"):
			hint = "cannot reach the store: check the endpoint (?endpoint=http://host:port&use_path_style=true for an S3-compatible store, or AWS_ENDPOINT_URL)"
		}
	case "gs":
		switch {
		case strings.Contains(msg, "could not find default credentials") || strings.Contains(msg, "credentials"):
			hint = "no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account key (or run gcloud auth application-default login) on every node, or add ?anonymous=true for a public bucket"
		case gcerrors.Code(err) == gcerrors.PermissionDenied:
			hint = "access denied: check that the credentials on every node may use this bucket, or add ?anonymous=true for a public bucket"
		}
	}
	if hint != "" {
		return fmt.Errorf("%s %s: %s: %w", op, loc, hint, err)
	}
	return fmt.Errorf("%s %s: %w", op, loc, err)
}

// MTime is the modification time in Unix nanoseconds (0 when unknown).
func (i Info) MTime() int64 {
	if i.ModTime.IsZero() {
		return 0
	}
	return i.ModTime.UnixNano()
}
