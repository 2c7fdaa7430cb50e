package cli

import (
	"cmp"
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
					printStragglers(w, out)
					printAccounts(w, out)
					printWarnings(w, out)
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
				_, lookupErr := env.Lookup(args[0])
				h, err := history(ctx, env.Store, args[0], lookupErr)
				if err != nil {
					return err
				}
				return app.emit(h, func(w io.Writer) {
					fmt.Fprintln(w, "VERSION\tFINGERPRINT\tSTATE\tCREATED\tEXPIRES\tIDENTITY\tNOTE")
					for _, v := range h.Versions {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Seq, v.Fingerprint, v.State, stamp(v.CreatedAt), stamp(v.ExpiresAt), cmp.Or(v.Identity, "-"), v.Note)
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

// history reads one credential's versions and runs. notInConfig is the
// config's answer for name: a credential removed from the config still has
// its history, a name that is in neither is a mistake, said as such.
func history(ctx context.Context, st status.Reader, name string, notInConfig error) (historyView, error) {
	if _, err := st.Credential(ctx, name); errors.Is(err, rotation.ErrNotFound) {
		if notInConfig != nil {
			return historyView{}, &UsageError{Err: notInConfig}
		}
		return historyView{}, &UsageError{Err: fmt.Errorf("%s: no history: rotor has not adopted or rotated it yet ('rotor adopt %s' records the token its targets hold today)", name, name)}
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

// printStragglers lists, under the table, the bindings still on the
// previous token because their pipeline was running a deployment.
func printStragglers(w io.Writer, creds []status.Credential) {
	for _, c := range creds {
		if len(c.Stragglers) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d binding(s) still on the previous token (it is retired only after they move; 'rotor rotate %s --resume' or 'rotor serve' moves them once their pipeline is idle)\n", c.Name, len(c.Stragglers), c.Name)
		for _, s := range c.Stragglers {
			fmt.Fprintf(w, "  %s\t%s\tsince %s (%s)\t%s\n", s.Status, s.Binding, stamp(s.Since), status.Human(c.Now.Sub(s.Since)), s.Why)
		}
	}
}

// printAccounts lists, under the table, how the newest run's bindings of
// each credential that spans AWS accounts or regions fared, one line per
// account × region.
func printAccounts(w io.Writer, creds []status.Credential) {
	for _, c := range creds {
		if len(c.Accounts) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: bindings of run #%d by account × region\n", c.Name, c.NewestRun().ID)
		printAccountLines(w, c.Accounts)
	}
}

// printWarnings lists, under the table, each credential's grant, its
// revocations and what a person should know or do.
func printWarnings(w io.Writer, creds []status.Credential) {
	for _, c := range creds {
		lines := []string{c.GrantLabel(), c.RevocationsLabel()}
		lines = append(lines, c.Warnings...)
		first := true
		for _, l := range lines {
			if l == "" {
				continue
			}
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintf(w, "%s: %s\n", c.Name, l)
		}
	}
}
