package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/source/personal"
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
revoked afterwards by 'rotor retire' or 'rotor serve'.`,
		Example: `  # a GitHub App credential: fully automatic
  rotor rotate ci-app

  # a personal token, typed at a hidden prompt
  rotor rotate codepipeline-test-repo

  # a personal token from a password manager, through stdin
  op read op://ci/github/token | rotor rotate codepipeline-test-repo --token-stdin

  # finish a run that was interrupted (rotor serve does this by itself)
  rotor rotate codepipeline-test-repo --resume`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRotate(cmd, app, args[0], f)
		},
	}
	cmd.Flags().BoolVar(&f.tokenStdin, "token-stdin", false, "read a personal token from standard input instead of a prompt")
	cmd.Flags().BoolVar(&f.resume, "resume", false, "finish this credential's unfinished run")
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
	if cc.Source.Type == personal.Type && !f.tokenStdin && !isTTY(app.In) && !f.resume {
		return usageErrorf("%s takes a personal token, and standard input is not a terminal to prompt on: pipe the token in with --token-stdin", name)
	}
	cred, err := env.Credential(ctx, cc, wiring.CredentialOptions{ReadToken: app.tokenReader(f.tokenStdin, "the new token", true), AllowIdentityChange: f.allowIdentityChange, Progress: app.bindingProgress()})
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Err, "rotating %s (%s)\n", name, cc.Source.Type)
	eng := env.Engine(app.progress)
	run, err := eng.Rotate(ctx, cred, rotation.Options{Trigger: "manual", Resume: f.resume, Bootstrap: f.bootstrap})
	if err != nil {
		if errors.Is(err, rotation.ErrOpenRun) {
			return &UsageError{Err: err}
		}
		return err
	}
	if cred.Grace <= 0 {
		if _, err := eng.Retire(ctx, cred); err != nil {
			return fmt.Errorf("rotated, but retiring the previous token failed: %w", err)
		}
	} else if run.PrevSeq != 0 {
		fmt.Fprintf(app.Err, "previous version %d stays valid until %s (grace %s); 'rotor retire %s' or 'rotor serve' revokes it then\n",
			run.PrevSeq, run.FinishedAt.Add(cred.Grace).Local().Format(time.DateTime), cred.Grace, name)
	}
	return app.emit(run, func(w io.Writer) {
		fmt.Fprintf(w, "%s\trun %d\t%s\tversion %d is current\n", name, run.ID, run.Status, run.NewSeq)
	})
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
		if explain {
			return personal.PromptReader(a.In, a.Err, tty)(ctx)
		}
		return personal.ReadToken(ctx, a.In, a.Err, tty, what)
	}
}
