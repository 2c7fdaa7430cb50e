package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

type rotateFlags struct {
	tokenStdin          bool
	resume              bool
	dryRun              bool
	bootstrap           bool
	allowIdentityChange bool
}

func newRotateCmd(app *App) *cobra.Command {
	var f rotateFlags
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Rotate one credential now",
		Long: `Rotate one credential now: mint or accept a new token, check it, apply it to
every binding, verify each one, and promote it. On any failure after a binding
took the new token, every binding is put back on the previous token and the
new one is revoked (exit code 3).

For a personal-token credential rotor asks for the new token on a hidden
prompt, or reads it from standard input with --token-stdin. Never pass a
token as an argument. Create a NEW token in GitHub for this; do not use
"Regenerate", which kills the old token before the pipelines have the new one.

The previous token stays valid for the credential's grace period and is
revoked afterwards by 'rotor retire' or 'rotor serve'.

A pipeline running a deployment is not updated (on AWS an update stops the
execution in progress): by default rotor waits for it (in_flight: wait, at
most max_wait). Bindings still waiting when the run ends keep the previous
token and are listed; the run then exits 4. They move as soon as their
pipeline is idle: 'rotor rotate NAME --resume' waits for them, 'rotor serve'
moves them on its next tick, and the previous token is revoked only after
the last one has moved.`,
		Example: `  # a GitHub App credential: fully automatic
  rotor rotate ci-app

  # a personal token, typed at a hidden prompt
  rotor rotate codepipeline-test-repo

  # a personal token from a password manager, through stdin
  op read op://ci/github/token | rotor rotate codepipeline-test-repo --token-stdin

  # finish a run that was interrupted, or move the bindings still waiting
  # for their pipeline (rotor serve does both by itself)
  rotor rotate codepipeline-test-repo --resume`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRotate(cmd, app, args[0], f)
		},
	}
	cmd.Flags().BoolVar(&f.tokenStdin, "token-stdin", false, "read a personal token from standard input instead of a prompt")
	cmd.Flags().BoolVar(&f.resume, "resume", false, "finish this credential's unfinished run, or move its bindings still waiting for their pipeline")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show the bindings a rotation would touch and change nothing")
	cmd.Flags().BoolVar(&f.bootstrap, "bootstrap", false, "rotate although rotor knows no current token (a failure cannot roll back)")
	cmd.Flags().BoolVar(&f.allowIdentityChange, "allow-identity-change", false, "accept a token of another GitHub user than the current one")
	return cmd
}

func runRotate(cmd *cobra.Command, app *App, name string, f rotateFlags) error {
	ctx := cmd.Context()
	if f.dryRun {
		return runPlan(cmd, app, []string{name})
	}
	env, err := app.openEnv(ctx)
	if err != nil {
		return err
	}
	defer env.Close()
	cc, err := env.Lookup(name)
	if err != nil {
		return &UsageError{Err: err}
	}
	if cc.Source.Type == config.SourcePersonalToken && !f.tokenStdin && !isTTY(app.In) && !f.resume {
		return usageErrorf("%s takes a personal token, and standard input is not a terminal to prompt on: pipe the token in with --token-stdin", name)
	}
	cred, err := env.Credential(ctx, cc, wiring.CredentialOptions{ReadToken: app.tokenReader(f.tokenStdin, "the new token", true), AllowIdentityChange: f.allowIdentityChange, Progress: app.bindingProgress()})
	if err != nil {
		return err
	}
	eng := env.Engine(app.progress)
	if f.resume {
		if _, err := env.Store.OpenRun(ctx, name); errors.Is(err, rotation.ErrNotFound) {
			if _, left, err := rotation.Stragglers(ctx, env.Store, name); err != nil {
				return err
			} else if len(left) > 0 {
				return moveStragglers(cmd, app, env, eng, cred, len(left))
			}
		}
	}
	fmt.Fprintf(app.Err, "rotating %s (%s)\n", name, cc.Source.Type)
	run, err := eng.Rotate(ctx, cred, rotation.Options{Trigger: "manual", Resume: f.resume, Bootstrap: f.bootstrap})
	if err != nil {
		app.alertRun(ctx, env.Config, name, err)
		if errors.Is(err, rotation.ErrOpenRun) {
			return &UsageError{Err: err}
		}
		return err
	}
	res, err := runResultOf(ctx, env, run)
	if err != nil {
		return err
	}
	switch {
	case len(res.Stragglers) > 0:
		fmt.Fprintf(app.Err, "previous version %d stays valid until every binding holds version %d and the grace period (%s) has passed\n", run.PrevSeq, run.NewSeq, cred.Grace)
	case cred.Grace <= 0:
		if _, err := eng.Retire(ctx, cred); err != nil {
			return fmt.Errorf("rotated, but retiring the previous token failed: %w", err)
		}
	case run.PrevSeq != 0:
		fmt.Fprintf(app.Err, "previous version %d stays valid until %s (grace %s); 'rotor retire %s' or 'rotor serve' revokes it then\n",
			run.PrevSeq, run.FinishedAt.Add(cred.Grace).Local().Format(time.DateTime), cred.Grace, name)
	}
	if err := app.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "%s\trun %d\t%s\tversion %d is current\n", name, run.ID, run.Status, run.NewSeq)
		res.table(w)
	}); err != nil {
		return err
	}
	return res.err(name)
}

// moveStragglers moves the bindings of the last run still waiting for
// their pipeline, waiting for busy ones as the targets' in_flight says.
func moveStragglers(cmd *cobra.Command, app *App, env *wiring.Env, eng *rotation.Engine, cred rotation.Credential, n int) error {
	ctx := cmd.Context()
	fmt.Fprintf(app.Err, "moving %d binding(s) of %s still waiting for their pipeline\n", n, cred.Name)
	run, _, err := eng.MoveStragglers(ctx, cred, rotation.MoveOptions{})
	if err != nil {
		return err
	}
	res, err := runResultOf(ctx, env, run)
	if err != nil {
		return err
	}
	if len(res.Stragglers) == 0 && cred.Grace <= 0 {
		if _, err := eng.Retire(ctx, cred); err != nil {
			return fmt.Errorf("moved, but retiring the previous token failed: %w", err)
		}
	}
	if err := app.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "%s\trun %d\t%d binding(s) moved to version %d\n", cred.Name, run.ID, n-len(res.Stragglers), run.NewSeq)
		res.table(w)
	}); err != nil {
		return err
	}
	return res.err(cred.Name)
}

// tokenReader chooses how a person's new token is read: stdin when asked, a
// hidden prompt on a terminal, and otherwise a clear refusal (never argv).
// It reads only when a source asks, so app credentials never touch stdin.
// what names the token in the prompt; explain adds the advice on creating
// a new token (not "Regenerate").
func (a *App) tokenReader(fromStdin bool, what string, explain bool) wiring.TokenReader {
	return func(ctx context.Context) (token.Token, error) {
		tty := !fromStdin && isTTY(a.In)
		if !fromStdin && !tty {
			return token.Token{}, &UsageError{Err: fmt.Errorf("%w: standard input is not a terminal, so rotor cannot prompt; pipe the token in with --token-stdin", rotation.ErrNoToken)}
		}
		return wiring.PromptToken(ctx, a.In, a.Err, tty, explain, what)
	}
}
