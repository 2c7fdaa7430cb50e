package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/migrate"
	"github.com/rotor-ci/rotor/internal/wiring"
)

type migrateFlags struct {
	sel              migrate.Selection
	connections      []string
	createConnection string
	dryRun           bool
}

func newMigrateCmd(app *App) *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "migrate NAME",
		Short: "Move a credential's pipelines off its token, to a CodeConnections connection",
		Long: `Move every GitHub (version 1) source action of a credential (or of one
pipeline, --pipeline, or of one account and region, --account and --region)
to the GitHub (version 2) action, which holds no token: it reads the
repository through a CodeConnections connection. Each action is rewritten
for the same owner, repository and branch, and nothing else changes.
A pipeline running a deployment is waited for, never stopped. Each pipeline is
then verified by an execution of its source action; one that fails is put
back on its version 1 action with the token rotor holds (exit code 3).

A connection belongs to one AWS account and region, and a pipeline can use
only one of its own: give --connection once per account × region that the
credential's pipelines are in (each action moves to the one of its place).
An action whose account and region has no connection refuses the whole
command before anything is written; so do two connections of one place.

A connection created by API is PENDING until someone completes the handshake
in the AWS console (there is no API for it): --create-connection creates one
in the account and region of the pipelines (narrow with --account and
--region when they span several), prints where to complete it, and stops;
run again with --connection ARN.

When the credential's last action has moved, its version 1 webhooks are gone
(deregistered before each move, deleted after it), its token is retired after
the grace period like any previous token ('rotor retire' or 'rotor serve'),
and the credential is marked migrated: rotor no longer rotates it.

An interrupted migration resumes where it stopped: run the same command again.
See docs/migrate.md.`,
		Example: `  rotor plan codepipeline-test-repo            # what would move, and what blocks it
  rotor migrate codepipeline-test-repo --create-connection github-acme
  rotor migrate codepipeline-test-repo --connection arn:aws:codeconnections:us-east-1:123456789012:connection/abc --dry-run
  rotor migrate codepipeline-test-repo --connection arn:aws:codeconnections:us-east-1:123456789012:connection/abc

  # pipelines in two accounts: one connection in each
  rotor migrate payments-github --create-connection github-acme --account 111111111111 --region eu-west-1
  rotor migrate payments-github \
      --connection arn:aws:codeconnections:eu-west-1:111111111111:connection/def \
      --connection arn:aws:codeconnections:us-east-1:123456789012:connection/abc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMigrate(cmd, app, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.sel.Pipeline, "pipeline", "", "move only this pipeline's actions (in every account and region that has one by this name)")
	cmd.Flags().StringVar(&f.sel.Account, "account", "", "move only the actions of pipelines in this AWS account (12 digits)")
	cmd.Flags().StringVar(&f.sel.Region, "region", "", "move only the actions of pipelines in this AWS region")
	cmd.Flags().StringArrayVar(&f.connections, "connection", nil, "ARN of an AVAILABLE CodeConnections (or codestar-connections) connection; repeat it, one per account × region of the pipelines")
	cmd.Flags().StringVar(&f.createConnection, "create-connection", "", "create a GitHub connection by this name in the pipelines' account and region, print how to complete it, and stop")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show what would move and change nothing")
	return cmd
}

func runMigrate(cmd *cobra.Command, app *App, name string, f migrateFlags) error {
	if len(f.connections) > 0 && f.createConnection != "" {
		return usageErrorf("give --connection or --create-connection, not both")
	}
	// A malformed ARN or account, or two connections of one place, is
	// refused before anything is read.
	if _, err := migrate.ParseConnections(f.connections); err != nil {
		return &UsageError{Err: err}
	}
	if err := f.sel.Check(); err != nil {
		return &UsageError{Err: err}
	}
	return app.withEnv(cmd, func(ctx context.Context, env *wiring.Env) error {
		cc, err := env.Lookup(name)
		if err != nil {
			return &UsageError{Err: err}
		}
		cred, err := env.Credential(ctx, cc, wiring.CredentialOptions{})
		if err != nil {
			return err
		}
		m, mc, err := env.Migration(ctx, cc, cred)
		if err != nil {
			return &UsageError{Err: err}
		}
		if f.createConnection != "" {
			created, err := migrate.CreateConnection(ctx, mc, f.sel, f.createConnection)
			if errors.Is(err, migrate.ErrSeveralPlaces) || errors.Is(err, migrate.ErrNothing) {
				return &UsageError{Err: err}
			} else if err != nil {
				return err
			}
			return app.emit(created, func(w io.Writer) {
				fmt.Fprintf(w, "created connection %s (PENDING) in %s\n", created.Connection, created.Place)
				fmt.Fprintf(w, "rotor cannot complete it: there is no API for the console handshake. Open\n  %s\n", created.ConsoleURL)
				fmt.Fprintf(w, "choose \"Update pending connection\", install the AWS Connector for GitHub on the\naccount or organisation that owns the repositories, then run:\n  rotor migrate %s --connection %s\n", name, created.Connection)
			})
		}
		m.Observe = func(a migrate.Action) {
			if app.Output != "json" {
				fmt.Fprintf(app.Err, "  %s: %s%s\n", a.Binding, a.Status, prefixed(": ", a.Error))
			}
		}
		res, err := m.Migrate(ctx, mc, migrate.Options{Selection: f.sel, Connections: f.connections, DryRun: f.dryRun})
		if err != nil && res.RunID == 0 {
			// Refused before anything was written (a dry run writes nothing).
			if errors.Is(err, migrate.ErrNotAvailable) || errors.Is(err, migrate.ErrNothing) ||
				errors.Is(err, migrate.ErrNoConnection) || errors.Is(err, migrate.ErrBadConnection) {
				return &UsageError{Err: err}
			}
			return err
		}
		if res.Migrated {
			// The normal retirement path: revoked now if the grace period is
			// zero, else by 'rotor retire' or 'rotor serve' once it ends.
			if _, rerr := env.Engine(app.progress).Retire(ctx, cred); rerr != nil {
				fmt.Fprintf(app.Err, "retire: %v\n", rerr)
			}
		}
		if eerr := app.emit(res, func(w io.Writer) { printMigration(w, res) }); eerr != nil {
			return eerr
		}
		return err
	})
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func printMigration(w io.Writer, res migrate.Result) {
	verb := "migration"
	if res.DryRun {
		verb = "dry run: would move"
	}
	to := strings.Join(res.Connections, ", ")
	switch {
	case len(res.Connections) == 0:
		to = "a connection (none given)"
	case len(res.Connections) > 1:
		to = fmt.Sprintf("%d connections, one per account × region", len(res.Connections))
	}
	fmt.Fprintf(w, "%s %s to %s\n", verb, res.Credential, to)
	for _, a := range res.Actions {
		fmt.Fprintf(w, "  %-60s %s%s\n", a.Binding, a.Status, prefixed(": ", a.Error))
		if len(res.Connections) > 1 && a.Connection != "" {
			fmt.Fprintf(w, "      connection: %s\n", a.Connection)
		}
		if len(a.Webhooks) > 0 {
			fmt.Fprintf(w, "      webhooks: %s\n", strings.Join(a.Webhooks, ", "))
		}
	}
	switch {
	case res.DryRun:
	case res.Migrated:
		fmt.Fprintf(w, "%s is migrated: its token is retired after the grace period\n", res.Credential)
	case res.TokenKept != "":
		fmt.Fprintf(w, "the token stays in use: %s\n", res.TokenKept)
	}
}

// printMigrationPlan is rotor plan's migration section of one credential.
func printMigrationPlan(w io.Writer, mp migrate.MigrationPlan) {
	fmt.Fprintf(w, "  migration to a CodeConnections connection (rotor migrate %s): %d GitHub (version 1) action(s)\n", mp.Credential, len(mp.Actions))
	for _, a := range mp.Actions {
		verdict := "can move"
		if len(a.Blockers) > 0 {
			verdict = "blocked"
		}
		fmt.Fprintf(w, "    %s\t%s@%s\t%s\n", a.ID, a.Repo, a.Branch, verdict)
		for _, b := range a.Blockers {
			fmt.Fprintf(w, "      blocker: %s\n", b)
		}
		for _, n := range a.Notes {
			fmt.Fprintf(w, "      note: %s\n", n)
		}
	}
	if len(mp.Others) > 0 {
		fmt.Fprintf(w, "    the token stays in use after the migration for %s\n", strings.Join(mp.Others, ", "))
	}
}
