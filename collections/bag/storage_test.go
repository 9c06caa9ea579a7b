package bag

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshcompute/mesh/collections/storage"
	"github.com/meshcompute/mesh/collections/storage/storagetest"
)

// A word count over text objects in an S3-compatible server (moto): the
// fixture's files (plain ones split into byte ranges, a gzip one whole)
// put with the SDK, read by the workers from s3:// URLs; then ToText to
// s3:// and read back.
func TestTextObjectStore(t *testing.T) {
	s3 := storagetest.StartS3(t)
	s3.Bucket(t, "text")
	ctx, c := newClient(t)
	dir := t.TempDir()
	pattern, lines := textFixture(t, dir)
	matches, _ := filepath.Glob(pattern)
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		s3.Put(t, "text", "in/"+filepath.Base(m), b)
	}
	want := map[string]int64{}
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			want[w]++
		}
	}
	b, err := ReadText(s3.URL("text", "in/words-*"), BlockSize(700))
	if err != nil {
		t.Fatal(err)
	}
	local, err := ReadText(pattern, BlockSize(700))
	if err != nil {
		t.Fatal(err)
	}
	if b.NPartitions() != local.NPartitions() || b.NPartitions() < 10 {
		t.Fatalf("%d partitions (local %d): the objects should be split in blocks", b.NPartitions(), local.NPartitions())
	}
	freqs, err := ComputeAs[Pair[string]](ctx, c, b.FlatMap("btest.words").Frequencies())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, p := range freqs {
		got[p.Value] = p.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("word counts from s3\n%v\nwant\n%v", got, want)
	}
	all, err := ComputeAs[string](ctx, c, b)
	if err != nil || fmt.Sprint(all) != fmt.Sprint(lines) {
		t.Fatalf("lines from s3: %d lines, %v; want %d", len(all), err, len(lines))
	}

	res, err := b.Map("btest.upper").ToText(ctx, c, s3.URL("text", "out/part-*.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != b.NPartitions() || storage.Key(res[0].Path) != "s3://text/out/part-00000.txt.gz" {
		t.Fatalf("written %v", res)
	}
	if keys := s3.Keys(t, "text", "out/"); len(keys) != len(res) {
		t.Fatalf("%d objects for %d partitions: %v", len(keys), len(res), keys)
	}
	back, err := ReadText(s3.URL("text", "out/part-*.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	up, err := ComputeAs[string](ctx, c, back)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lines {
		if up[i] != strings.ToUpper(lines[i]) {
			t.Fatalf("line %d: %q, want %q", i, up[i], strings.ToUpper(lines[i]))
		}
	}
	if _, err := ReadText(s3.URL("text", "none/*")); err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Fatalf("no match: %v", err)
	}
}
