package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `mesh gen jsonl` then `mesh bench bag`: a line per run whose counts match
// a plain reading of the files.
func TestBenchBag(t *testing.T) {
	dir := t.TempDir()
	data, text := filepath.Join(dir, "d.jsonl"), filepath.Join(dir, "t.txt")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"gen", "jsonl", "--rows", "3000", "--out", data, "--text-out", text}, &out, &errOut); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errOut.String())
	}
	names, words := map[string]int{}, map[string]int{}
	nwords := 0
	f, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct{ Name, Text string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		names[r.Name]++
		for _, w := range strings.Fields(r.Text) {
			words[w]++
			nwords++
		}
	}
	f.Close()
	out.Reset()
	args := []string{"bench", "bag", "--data", data, "--text", text, "--runs", "1", "--block-size", "50000"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("bench bag: exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{
		`count run1: [0-9.]+s lines=3000 partitions=[0-9]+`,
		fmt.Sprintf(`wordcount run1: [0-9.]+s distinct=%d total=%d top=`, len(words), nwords),
		fmt.Sprintf(`wordcount-str run1: [0-9.]+s distinct=%d total=%d top=.* file=t.txt`, len(words), nwords),
		fmt.Sprintf(`pluck run1: [0-9.]+s distinct=%d total=3000 top=`, len(names)),
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Fatalf("no line matching %s in\n%s", want, out.String())
		}
	}
	if code := run(context.Background(), []string{"bench", "bag"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "--data FILE.jsonl is required") {
		t.Fatalf("without --data: exit %d, %s", code, errOut.String())
	}
}
