package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshcompute/mesh/actors"
)

func newLeaveCmd() *cobra.Command {
	var (
		peerAddrs           []string
		secretFile, dataDir string
		asJSON, noWait      bool
		timeout             time.Duration
	)
	c := &cobra.Command{
		Use:   "leave",
		Short: "Ask a running node to leave the mesh gracefully and stop (as SIGTERM does)",
		Long: `Ask a node to leave: it drains first (tasks it has not started move to other nodes, it finishes
the ones it runs, results only it holds are copied to nodes that stay; at most its --drain-timeout),
then leaves the mesh and its 'mesh join' process exits 0. Without --peer, the node whose data dir is
--data-dir is asked (its addr and secret files). The command waits until the node is gone unless --no-wait.`,
		Example: `  mesh leave --data-dir /var/lib/mesh
  mesh leave --peer /ip4/10.0.0.2/tcp/7946/p2p/12D3KooW... --secret-file ./secret --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			peers, secret, err := nodeTarget(peerAddrs, secretFile, dataDir)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context(), timeout)
			defer cancel()
			cl, err := actors.Dial(ctx, secret, peers, nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			node := cl.Peer()
			r, err := cl.Request(ctx, node, actors.MembershipID, &actors.LeaveSelfRequest{})
			if err != nil {
				return fmt.Errorf("ask %s to leave: %w", node, err)
			}
			if _, ok := r.(*actors.LeaveSelfReply); !ok {
				return fmt.Errorf("ask %s to leave: unexpected reply %T", node, r)
			}
			gone := false
			if !noWait {
				// The node answers until it has left and stopped.
				for ctx.Err() == nil {
					qctx, qcancel := context.WithTimeout(ctx, time.Second)
					_, err := cl.StatusFrom(qctx, node)
					qcancel()
					if err != nil {
						gone = true
						break
					}
					select {
					case <-ctx.Done():
					case <-time.After(200 * time.Millisecond):
					}
				}
				if !gone {
					return fmt.Errorf("node %s was asked to leave but still answers after %v (its drain may take up to its --drain-timeout): check `mesh status`", node, timeout)
				}
			}
			if asJSON {
				return json.NewEncoder(c.OutOrStdout()).Encode(map[string]any{"node": node.String(), "leaving": true, "gone": gone})
			}
			if gone {
				fmt.Fprintf(c.OutOrStdout(), "node %s left the mesh\n", node)
			} else {
				fmt.Fprintf(c.OutOrStdout(), "node %s is leaving the mesh (draining first)\n", node)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringArrayVar(&peerAddrs, "peer", nil, "the node's multiaddr (default: <data-dir>/addr)")
	fl.StringVar(&secretFile, "secret-file", "", "the mesh's secret (default <data-dir>/secret)")
	fl.StringVar(&dataDir, "data-dir", defaultDataDir(), "the node's data dir, used when --peer or --secret-file is not given")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	fl.BoolVar(&noWait, "no-wait", false, "return once the node accepted, without waiting for it to be gone")
	fl.DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long (the node's drain may take its --drain-timeout)")
	return c
}
