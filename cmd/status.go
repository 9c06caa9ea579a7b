package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/meshcompute/mesh/actors"
	"github.com/meshcompute/mesh/mesh"
)

func newStatusCmd() *cobra.Command {
	var (
		peerAddrs           []string
		secretFile, dataDir string
		asJSON              bool
		timeout             time.Duration
	)
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the mesh's members, leader and Raft term",
		Long: `Ask any node for the mesh's status; it forwards the question to the leader.
Without --peer, the node whose data dir is --data-dir is asked (its addr and secret files).`,
		Example: `  mesh status --peer /ip4/10.0.0.1/tcp/7946/p2p/12D3KooW... --secret-file ./secret
  mesh status --data-dir /var/lib/mesh --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			peers, secret, err := nodeTarget(peerAddrs, secretFile, dataDir)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context(), timeout)
			defer cancel()
			st, err := fetchStatus(ctx, secret, peers)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(c.OutOrStdout(), st)
			return nil
		},
	}
	fl := c.Flags()
	fl.StringArrayVar(&peerAddrs, "peer", nil, "a node's multiaddr (repeat for fallbacks)")
	fl.StringVar(&secretFile, "secret-file", "", "the mesh's secret (default <data-dir>/secret)")
	fl.StringVar(&dataDir, "data-dir", defaultDataDir(), "a local node's data dir, used when --peer or --secret-file is not given")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	return c
}

// stateColours are the ANSI colours of member states on a terminal.
var stateColours = map[string]string{"alive": "32", "suspect": "33", "dead": "31", "left": "90"}

// paint wraps s in an ANSI colour (escaped for tabwriter: no width).
func paint(s, code string) string {
	if code == "" {
		return s
	}
	return "\xff\x1b[" + code + "m\xff" + s + "\xff\x1b[0m\xff"
}

// isTerminal reports whether w is a terminal (colours for people; plain
// text for scripts and pipes).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// nodeTarget finds the node a command talks to and the mesh's secret:
// --peer and --secret-file, or the addr and secret files of --data-dir.
func nodeTarget(peerAddrs []string, secretFile, dataDir string) ([]peer.AddrInfo, mesh.Secret, error) {
	if len(peerAddrs) == 0 {
		data, err := os.ReadFile(filepath.Join(dataDir, actors.AddrFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, usageError{fmt.Errorf("no --peer given and no node address in %s (is a node running with that --data-dir?): pass --peer <multiaddr>", filepath.Join(dataDir, actors.AddrFile))}
		} else if err != nil {
			return nil, nil, err
		}
		peerAddrs = strings.Fields(string(data))
	}
	peers, err := parsePeers(peerAddrs)
	if err != nil {
		return nil, nil, err
	}
	if secretFile == "" {
		secretFile = filepath.Join(dataDir, mesh.SecretFile)
	}
	secret, err := mesh.ReadSecretFile(secretFile)
	if err != nil {
		return nil, nil, err
	}
	return peers, secret, nil
}

func fetchStatus(ctx context.Context, secret mesh.Secret, peers []peer.AddrInfo) (*actors.Status, error) {
	cl, err := actors.Dial(ctx, secret, peers, nil)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("ask %s for status: %w", cl.Peer(), err)
	}
	return st, nil
}

func printStatus(w io.Writer, st *actors.Status) {
	leader := st.Leader
	if leader == "" {
		leader = "(none: no quorum or an election is under way)"
	}
	fmt.Fprintf(w, "leader: %s\nterm: %d  commit index: %d  voters kept: %d\n", leader, st.Term, st.CommitIndex, st.Voters)
	if st.Stale {
		fmt.Fprintf(w, "note: the leader could not be reached; this is node %s's view\n", st.AnsweredBy)
	}
	colour := isTerminal(w)
	// tabwriter.StripEscape: colour codes between 0xff bytes take no width.
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.StripEscape)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tCORES\tMEMORY\tADDRS")
	for _, m := range st.Members {
		id := m.ID
		if m.Leader {
			id += " *"
		}
		state := m.State
		if colour {
			state = paint(state, stateColours[state])
			if m.Leader {
				id = paint(id, "1")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", id, m.Name, m.Role, state, m.Cores, humanBytes(m.Memory), strings.Join(m.Addrs, ","))
	}
	tw.Flush()
}

func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
