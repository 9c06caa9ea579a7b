// Command wordlen is a complete mesh program: a mesh binary that also knows
// its own task functions, and a client that runs a small graph of them.
//
// The functions are registered in init, so every process of this binary
// knows them. Run it as a mesh node with the mesh command line:
//
//	wordlen join --listen /ip4/127.0.0.1/tcp/0 --data-dir /tmp/w1
//	wordlen status --data-dir /tmp/w1
//	wordlen run --keep          # a local mesh in one process
//
// and as a client of such a mesh:
//
//	wordlen client --peer ADDR --secret-file FILE
//
// The client measures the words of the Gettysburg Address on the mesh: it
// scatters the sentences, maps wordlen.histogram over them, merges the
// histograms with a tree of wordlen.merge tasks, and takes each sentence's
// longest word as it completes. See examples/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/meshcompute/mesh/cmd"
	"github.com/meshcompute/mesh/futures"
)

// The program's task functions. Every node must run a binary that
// registered them: a node without them fails their tasks with
// futures.ErrUnknownFunc.
func init() {
	futures.Register("wordlen.histogram", histogram)
	futures.Register("wordlen.merge", merge)
	futures.Register("wordlen.longest", longest)
}

// words splits text into words: maximal runs of letters.
func words(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) })
}

// histogram counts the words of text by length.
func histogram(text string) map[int]int {
	h := map[int]int{}
	for _, w := range words(text) {
		h[len([]rune(w))]++
	}
	return h
}

// merge adds two histograms.
func merge(a, b map[int]int) map[int]int {
	out := make(map[int]int, max(len(a), len(b)))
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// longest is the longest word of text (the first in alphabetical order on
// a tie), lower-cased.
func longest(text string) string {
	best := ""
	for _, w := range words(text) {
		w = strings.ToLower(w)
		if better(w, best) {
			best = w
		}
	}
	return best
}

func better(w, than string) bool {
	lw, lt := len([]rune(w)), len([]rune(than))
	return lw > lt || (lw == lt && w < than)
}

// Report is what the client computes.
type Report struct {
	Sentences int
	Words     int
	Histogram map[int]int // word length -> number of words
	Longest   string
}

// measure runs the job on the mesh c is connected to. Progress goes to
// out.
func measure(ctx context.Context, c *futures.Client, text string, out io.Writer) (*Report, error) {
	var sentences []any
	for _, s := range strings.Split(text, "\n") {
		if strings.TrimSpace(s) != "" {
			sentences = append(sentences, s)
		}
	}
	if len(sentences) == 0 {
		return nil, errors.New("no text")
	}

	// Put the sentences in the mesh once; both maps below use them.
	data, err := c.Scatter(ctx, sentences)
	if err != nil {
		return nil, err
	}
	// Drop the mesh's copies of everything at the end, even if ctx has
	// ended by then (but not forever: Release retries while no leader
	// answers).
	release := func(fs []*futures.Future) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		c.Release(rctx, fs...)
	}
	defer release(data)
	args := make([]any, len(data))
	for i, f := range data {
		args[i] = f
	}

	// A histogram per sentence, merged in pairs down to one future. The
	// whole graph is submitted before any result is known.
	level, err := c.Map(ctx, "wordlen.histogram", args)
	if err != nil {
		return nil, err
	}
	graph := slices.Clone(level)
	for len(level) > 1 {
		var next []*futures.Future
		for i := 0; i+1 < len(level); i += 2 {
			f, err := c.Submit(ctx, "wordlen.merge", level[i], level[i+1])
			if err != nil {
				return nil, err
			}
			next = append(next, f)
			graph = append(graph, f)
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	defer release(graph)

	// Meanwhile, each sentence's longest word, taken as they complete.
	longs, err := c.Map(ctx, "wordlen.longest", args)
	if err != nil {
		return nil, err
	}
	defer release(longs)
	r := &Report{Sentences: len(sentences)}
	for f, err := range c.AsCompleted(ctx, longs) {
		if err != nil {
			return nil, err
		}
		var w string
		if err := f.Result(ctx, &w); err != nil {
			return nil, err
		}
		if better(w, r.Longest) {
			r.Longest = w
			fmt.Fprintf(out, "longest word so far: %q\n", w)
		}
	}

	if err := level[0].Result(ctx, &r.Histogram); err != nil {
		return nil, err
	}
	for _, n := range r.Histogram {
		r.Words += n
	}
	return r, nil
}

func printReport(out io.Writer, r *Report) {
	fmt.Fprintf(out, "%d sentences, %d words; longest word %q\n", r.Sentences, r.Words, r.Longest)
	lengths := make([]int, 0, len(r.Histogram))
	for l := range r.Histogram {
		lengths = append(lengths, l)
	}
	slices.Sort(lengths)
	for _, l := range lengths {
		fmt.Fprintf(out, "%3d letters %4d %s\n", l, r.Histogram[l], strings.Repeat("#", (r.Histogram[l]+1)/2))
	}
}

// client is `wordlen client`: connect to a mesh of wordlen nodes and run
// the job. It returns the process's exit code.
func client(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wordlen client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	peer := fs.String("peer", "", "a node's multiaddr, ending in /p2p/<peer id> (required)")
	secretFile := fs.String("secret-file", "", "a copy of the mesh's secret (required)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wordlen client --peer ADDR --secret-file FILE [--timeout D]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *peer == "" || *secretFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := futures.Connect(ctx, *peer, futures.WithSecretFile(*secretFile))
	if err != nil {
		fmt.Fprintf(stderr, "wordlen: connect: %v\n", err)
		return 1
	}
	defer c.Close()
	start := time.Now()
	r, err := measure(ctx, c, gettysburg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "wordlen: %v\n", err)
		return 1
	}
	printReport(stdout, r)
	fmt.Fprintf(stdout, "done in %v\n", time.Since(start).Round(time.Millisecond))
	return 0
}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) > 0 && args[0] == "client":
		os.Exit(client(args[1:], os.Stdout, os.Stderr))
	case len(args) == 0:
		fmt.Fprint(os.Stderr, "wordlen client --peer ADDR --secret-file FILE   run the word-length job on a mesh\n"+
			"wordlen join|status|run|bench ...               the mesh command line, with wordlen's functions\n\n")
		os.Exit(cmd.Main([]string{"--help"}))
	}
	os.Exit(cmd.Main(args))
}
