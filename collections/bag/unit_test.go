package bag

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestSkipValue(t *testing.T) {
	long := strings.Repeat("x", 70000)
	values := []any{
		nil, true, false, 0, 1, -1, -33, 127, 128, 255, 256, 65536, int64(1) << 40, -(int64(1) << 40), uint64(1) << 63,
		float32(1.5), 2.5, "", "abc", strings.Repeat("y", 40), strings.Repeat("z", 300), long,
		[]byte{1, 2, 3}, make([]byte, 300), make([]byte, 70000),
		[]any{}, []any{1, "a", []any{2, 3}}, make([]int, 20), make([]int, 70000),
		map[string]any{"a": 1, "b": []any{1, 2}}, map[string]int{"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8, "k9": 9, "ka": 10, "kb": 11, "kc": 12, "kd": 13, "ke": 14, "kf": 15, "kg": 16},
	}
	var all []byte
	var ends []int
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		ends = append(ends, len(all))
		end, err := skipValue(b, 0)
		if err != nil || end != len(b) {
			t.Fatalf("%T: skipValue = %d, %v; want %d", v, end, err, len(b))
		}
		if _, err := skipValue(b[:len(b)-1], 0); len(b) > 1 && err == nil {
			t.Fatalf("%T: a truncated value was not refused", v)
		}
	}
	pos := 0
	for i, want := range ends {
		end, err := skipValue(all, pos)
		if err != nil || end != want {
			t.Fatalf("value %d: end %d, %v; want %d", i, end, err, want)
		}
		pos = end
	}
	// A partition of those values decodes back to them.
	w := newPartWriter(0)
	for i := range values {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		w.add(all[start:ends[i]])
	}
	p, err := payload(w.finish())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := elements(p, func(int, []byte) error { n++; return nil }); err != nil || n != len(values) {
		t.Fatalf("%d elements, %v", n, err)
	}
	var back []any
	if err := msgpack.Unmarshal(p, &back); err != nil || len(back) != len(values) {
		t.Fatalf("decoded %d, %v", len(back), err)
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func gz(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// plainLines is the reference: the file's lines, without endings.
func plainLines(data string) []string {
	if data == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// Every block size gives each line once, in order, whatever the file ends
// with.
func TestReadTextBlocks(t *testing.T) {
	dir := t.TempDir()
	files := []struct{ name, data string }{
		{"a-newline.txt", "alpha beta\ngamma\n\ndelta epsilon zeta\neta\n"},
		{"b-no-newline.txt", "one\ntwo two\nthree three three"},
		{"c-empty.txt", ""},
		{"d-crlf.txt", "x y\r\nz\r\n"},
		{"e-one-line.txt", "only line no newline"},
		{"f-newlines.txt", "\n\n\n"},
	}
	var want []string
	for _, f := range files {
		writeFile(t, dir, f.name, []byte(f.data))
		want = append(want, plainLines(f.data)...)
	}
	zdata := "compressed one\ncompressed two\n"
	writeFile(t, dir, "g.txt.gz", gz(t, []byte(zdata)))
	want = append(want, plainLines(zdata)...)
	for _, bs := range []int64{1, 2, 3, 5, 7, 11, 64, 0} {
		b, err := ReadText(filepath.Join(dir, "*"), BlockSize(bs))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range b.n.text {
			if p.Gz && (p.Start != 0 || p.End != p.Size) {
				t.Fatalf("a gzip file split: %+v", p)
			}
			data, _, err := readBlock(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			arr, err := payload(linesPartition(data))
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			if err := msgpack.Unmarshal(arr, &lines); err != nil {
				t.Fatal(err)
			}
			got = append(got, lines...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("block size %d: lines\n%q\nwant\n%q", bs, got, want)
		}
	}
}

func TestLineOf(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	for i := range 100 {
		sb.WriteString(strings.Repeat("w", i%7))
		sb.WriteString("\n")
	}
	path := writeFile(t, dir, "lines.txt", []byte(sb.String()))
	b, err := ReadText(path, BlockSize(37))
	if err != nil {
		t.Fatal(err)
	}
	line := int64(1)
	for _, p := range b.n.text {
		data, _, err := readBlock(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range bytes.Count(data, []byte{'\n'}) {
			got, err := lineOf(context.Background(), p, i)
			if err != nil || got != line {
				t.Fatalf("part %+v element %d: line %d, %v; want %d", p, i, got, err, line)
			}
			line++
		}
	}
	if line != 101 {
		t.Fatalf("%d lines seen", line-1)
	}
}

func TestCanonical(t *testing.T) {
	big := map[string]any{}
	for i := range 40 {
		big[fmt.Sprintf("k%02d", i)] = int64(i)
	}
	groups := [][]any{
		{int64(5), int(5), uint8(5), int32(5), uint64(5), int16(5)},
		{int64(300), uint16(300), int(300), uint32(300)},
		{int64(-200), int16(-200), int(-200)},
		{map[string]any{"b": int64(1), "a": "x", "c": []any{int64(2)}}, map[string]any{"c": []int{2}, "a": "x", "b": 1}},
		{big, big, big},
		{"short", "short"},
		{strings.Repeat("s", 40), strings.Repeat("s", 40)},
	}
	var canons [][]byte
	for gi, g := range groups {
		var first []byte
		for _, v := range g {
			for range 5 { // Go maps encode in a random order each time
				b, err := msgpack.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				c, err := canonical(b)
				if err != nil {
					t.Fatalf("group %d %T: %v", gi, v, err)
				}
				if first == nil {
					first = c
				}
				if !bytes.Equal(c, first) {
					t.Fatalf("group %d: %T %v encodes canonically as % x, the group's first as % x", gi, v, v, c, first)
				}
				var back, orig any
				if err := decode(c, &back); err != nil {
					t.Fatal(err)
				}
				decode(b, &orig)
				if fmt.Sprint(back) != fmt.Sprint(orig) {
					t.Fatalf("group %d: canonical form decodes to %v, the value to %v", gi, back, orig)
				}
			}
		}
		for j, other := range canons {
			if bytes.Equal(other, first) {
				t.Fatalf("groups %d and %d share a canonical encoding", j, gi)
			}
		}
		canons = append(canons, first)
	}
	if _, err := canonical([]byte{0x92, 0x01}); err == nil {
		t.Fatal("a truncated array was accepted")
	}
}
