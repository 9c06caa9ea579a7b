package cmd

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/meshcompute/mesh/actors"
)

// Colours take no width in the status table, and a pipe gets none.
func TestStatusColours(t *testing.T) {
	var plain, coloured bytes.Buffer
	for _, c := range []struct {
		buf   *bytes.Buffer
		paint bool
	}{{&plain, false}, {&coloured, true}} {
		tw := tabwriter.NewWriter(c.buf, 2, 4, 2, ' ', tabwriter.StripEscape)
		for _, s := range []string{"alive", "dead"} {
			cell := s
			if c.paint {
				cell = paint(s, stateColours[s])
			}
			tw.Write([]byte(cell + "\tx\n"))
		}
		tw.Flush()
	}
	strip := strings.NewReplacer("\x1b[32m", "", "\x1b[31m", "", "\x1b[0m", "")
	if got := strip.Replace(coloured.String()); got != plain.String() {
		t.Fatalf("coloured table, colours removed:\n%q\nwant\n%q", got, plain.String())
	}
	if !strings.Contains(coloured.String(), "\x1b[32malive\x1b[0m") {
		t.Fatalf("no colour: %q", coloured.String())
	}
	var out bytes.Buffer
	printStatus(&out, &actors.Status{Leader: "a", Members: []actors.MemberStatus{{ID: "a", Name: "n", State: "alive", Leader: true}}})
	if strings.Contains(out.String(), "\x1b[") || strings.Contains(out.String(), "\xff") {
		t.Fatalf("colours on a non-terminal: %q", out.String())
	}
}
