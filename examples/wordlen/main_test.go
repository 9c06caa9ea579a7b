package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshcompute/mesh/futures"
	"github.com/meshcompute/mesh/mesh"
)

// The Gettysburg Address, measured by hand: 10 sentences, 272 words.
var wantHistogram = map[int]int{1: 7, 2: 50, 3: 60, 4: 58, 5: 35, 6: 25, 7: 15, 8: 6, 9: 10, 10: 4, 11: 2}

func TestMeasureOnLocalCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lc, err := futures.NewLocalCluster(ctx, 3, futures.WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	c, err := lc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var progress bytes.Buffer
	r, err := measure(ctx, c, gettysburg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sentences != 10 || r.Words != 272 || r.Longest != "consecrated" {
		t.Errorf("got %d sentences, %d words, longest %q; want 10, 272, \"consecrated\"", r.Sentences, r.Words, r.Longest)
	}
	if !maps.Equal(r.Histogram, wantHistogram) {
		t.Errorf("histogram %v, want %v", r.Histogram, wantHistogram)
	}
	if !strings.Contains(progress.String(), `"consecrated"`) {
		t.Errorf("progress does not end with the longest word:\n%s", progress.String())
	}

	// The same job through the command line: `wordlen client`.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := mesh.WriteSecretFile(secret, lc.Secret()); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := client([]string{"--peer", lc.Addr(), "--secret-file", secret}, &out, &errOut); code != 0 {
		t.Fatalf("wordlen client: exit %d; stderr: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), `10 sentences, 272 words; longest word "consecrated"`) {
		t.Errorf("wordlen client printed:\n%s", out.String())
	}
}

func TestClientUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := client(nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--peer ADDR --secret-file FILE") {
		t.Fatalf("no flags: exit %d, stderr %q", code, errOut.String())
	}
	missing := filepath.Join(t.TempDir(), "nope")
	errOut.Reset()
	code := client([]string{"--peer", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWRWuSCxRDTz3Q6jCCkSHnyBQ8gPdhYYivMTzTe3q26M4i", "--secret-file", missing}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "secret") {
		t.Fatalf("missing secret file: exit %d, stderr %q", code, errOut.String())
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("the client created the secret file")
	}
}

func TestFunctionsLocally(t *testing.T) {
	if got := histogram(gettysburg); !maps.Equal(got, wantHistogram) {
		t.Fatalf("histogram %v", got)
	}
	if got := merge(map[int]int{1: 1, 2: 2}, map[int]int{2: 3, 5: 1}); !maps.Equal(got, map[int]int{1: 1, 2: 5, 5: 1}) {
		t.Fatalf("merge %v", got)
	}
	if got := longest("We are met on a great battle-field"); got != "battle" {
		t.Fatalf("longest %q", got)
	}
}
