package cli

import (
	"cmp"
	"fmt"
	"io"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

func newAdoptCmd(app *App) *cobra.Command {
	var fromStdin, confirmUnverifiable, dryRun bool
	cmd := &cobra.Command{
		Use:   "adopt NAME",
		Short: "Record the token a credential's targets hold today",
		Long: `Record the token that a credential's targets hold today as its current
version, after checking it against GitHub. rotor needs it for the first
rotation: to put the targets back on it if the rotation fails, and to revoke
it once the new token is in place.

The token is read from a hidden prompt, or from standard input with
--token-stdin; it is stored only sealed with the key: of rotor.yaml.

rotor checks the token before it records it, because it will revoke it
after the first rotation: every target that can be read back (file, Secrets
Manager, SSM) must hold it, and no other credential may hold it. CodePipeline
shows a stored token only as ****, so rotor cannot check a pipeline: check
it yourself and pass --confirm-unverifiable.`,
		Example: `  rotor adopt codepipeline-test-repo --confirm-unverifiable      # hidden prompt
  op read op://ci/github/token | rotor adopt codepipeline-test-repo --token-stdin --confirm-unverifiable
  op read op://ci/github/token | rotor adopt ci-secret --token-stdin   # Secrets Manager: checked by reading it back`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := app.openEnv(ctx)
			if err != nil {
				return err
			}
			defer env.Close()
			cc, err := env.Lookup(args[0])
			if err != nil {
				return &UsageError{Err: err}
			}
			read := app.tokenReader(fromStdin, "the token your targets use today", false)
			cred, err := env.Credential(ctx, cc, wiring.CredentialOptions{ReadToken: read})
			if err != nil {
				return err
			}
			tok, err := read(ctx)
			if err != nil {
				return err
			}
			v, err := env.Engine(app.progress).Adopt(ctx, cred, tok, rotation.AdoptOptions{ConfirmUnverifiable: confirmUnverifiable, DryRun: dryRun})
			if err != nil {
				return err
			}
			return app.emit(v, func(w io.Writer) {
				if dryRun {
					fmt.Fprintf(w, "%s\t%s\twould be adopted as current (identity %s); nothing recorded (--dry-run)\n", v.Credential, v.Fingerprint, cmp.Or(v.Identity, "-"))
					return
				}
				fmt.Fprintf(w, "%s\tversion %d\t%s\tadopted as current (identity %s)\n", v.Credential, v.Seq, v.Fingerprint, cmp.Or(v.Identity, "-"))
			})
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "token-stdin", false, "read the token from standard input instead of a prompt")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the token against GitHub and the targets, and record nothing")
	cmd.Flags().BoolVar(&confirmUnverifiable, "confirm-unverifiable", false, "accept targets that cannot be read back (CodePipeline shows its token as ****): you checked they hold this token")
	return cmd
}
