package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

func newAuditCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and check the tamper-evident audit log",
		Example: `  rotor audit verify
  rotor audit list --limit 20 -o json`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Check the audit chain: any edited, deleted, reordered or truncated record fails",
		Long: `Check the audit chain from the first record to the stored head. Every record
is hashed with the one before it, so an edited, deleted, reordered or removed
record is found and named. Exit 1 when the chain is broken.`,
		Example: `  rotor audit verify
  rotor audit verify -o json     # {"ok": true, "records": …, "head": …}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.withEnv(cmd, func(ctx context.Context, env *wiring.Env) error {
				_, head, err := env.Store.Audit(ctx, 0, 1)
				if err != nil {
					return err
				}
				if err := audit.VerifyChain(ctx, env.Store); err != nil {
					return err
				}
				return app.emit(map[string]any{"ok": true, "records": head.Seq, "head": head.Hash}, func(w io.Writer) {
					fmt.Fprintf(w, "audit chain ok: %d records, head %s\n", head.Seq, short(head.Hash))
				})
			})
		},
	})
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "Print the newest audit records",
		Example: `  rotor audit list
  rotor audit list --limit 200 -o json | jq -r '.[] | select(.event == "rollback")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.withEnv(cmd, func(ctx context.Context, env *wiring.Env) error {
				_, head, err := env.Store.Audit(ctx, 0, 1)
				if err != nil {
					return err
				}
				recs, _, err := env.Store.Audit(ctx, max(head.Seq-int64(limit), 0), limit)
				if err != nil {
					return err
				}
				return app.emit(recs, func(w io.Writer) {
					fmt.Fprintln(w, "SEQ\tTIME\tCREDENTIAL\tRUN\tEVENT\tDETAIL")
					for _, r := range recs {
						fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\n", r.Seq, stamp(r.Time), r.Credential, r.RunID, r.Event, r.Detail)
					}
				})
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "how many of the newest records")
	cmd.AddCommand(list)
	return cmd
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return audit.Genesis[:12]
	}
	return h
}
