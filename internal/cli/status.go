package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

func newStatusCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show each credential's current token, age, expiry, next rotation and last run",
		Example: `  rotor status
  rotor status codepipeline-test-repo -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return app.withEnv(cmd, func(ctx context.Context, env *wiring.Env) error {
				if len(args) == 1 {
					if _, err := env.Lookup(args[0]); err != nil {
						return &UsageError{Err: err}
					}
				}
				all, err := status.Collect(ctx, env.Config, env.Store, time.Now())
				if err != nil {
					return err
				}
				var out []status.Credential
				for _, c := range all {
					if len(args) == 0 || c.Name == args[0] {
						out = append(out, c)
					}
				}
				return app.emit(out, func(w io.Writer) {
					fmt.Fprintln(w, "CREDENTIAL\tCURRENT\tAGE\tEXPIRES\tNEXT DUE\tLAST RUN\tBINDINGS")
					for _, c := range out {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.CurrentLabel(), c.AgeLabel(), c.ExpiresLabel(), c.DueLabel(), c.LastRunLabel(), c.BindingsLabel())
					}
				})
			})
		},
	}
}

func newHistoryCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "history NAME",
		Short:   "Show the runs and token versions of one credential",
		Example: `  rotor history codepipeline-test-repo`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return app.withEnv(cmd, func(ctx context.Context, env *wiring.Env) error {
				h, err := history(ctx, env.Store, args[0])
				if err != nil {
					return err
				}
				return app.emit(h, func(w io.Writer) {
					fmt.Fprintln(w, "VERSION\tFINGERPRINT\tSTATE\tCREATED\tEXPIRES\tIDENTITY\tNOTE")
					for _, v := range h.Versions {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Seq, v.Fingerprint, v.State, stamp(v.CreatedAt), stamp(v.ExpiresAt), orDash(v.Identity), v.Note)
					}
					fmt.Fprintln(w, "\nRUN\tTRIGGER\tSTATUS\tSTEP\tVERSIONS\tSTARTED\tDURATION\tREASON")
					for _, r := range h.Runs {
						dur := "-"
						if !r.FinishedAt.IsZero() {
							dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
						}
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d→%d\t%s\t%s\t%s\n", r.ID, r.Trigger, r.Status, r.Step, r.PrevSeq, r.NewSeq, stamp(r.StartedAt), dur, joinReason(r))
					}
				})
			})
		},
	}
}

type historyView struct {
	Credential string             `json:"credential"`
	Versions   []rotation.Version `json:"versions"`
	Runs       []rotation.Run     `json:"runs"`
}

func history(ctx context.Context, st rotation.Store, name string) (historyView, error) {
	if _, err := st.Credential(ctx, name); errors.Is(err, rotation.ErrNotFound) {
		return historyView{}, &UsageError{Err: fmt.Errorf("%s: no history: rotor has not adopted or rotated it yet", name)}
	} else if err != nil {
		return historyView{}, err
	}
	vs, err := st.Versions(ctx, name)
	if err != nil {
		return historyView{}, err
	}
	runs, err := st.Runs(ctx, name, 0)
	if err != nil {
		return historyView{}, err
	}
	return historyView{Credential: name, Versions: vs, Runs: runs}, nil
}

func joinReason(r rotation.Run) string {
	if r.Reason == "" {
		return ""
	}
	return r.Reason + ": " + r.Error
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}
