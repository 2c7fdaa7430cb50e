package cli

import (
	"fmt"
	"io"

	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

func newAdoptCmd(app *App) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "adopt NAME",
		Short: "Record the token a credential's targets hold today",
		Long: `Record the token that a credential's targets hold today as its current
version, after checking it against GitHub. rotor needs it for the first
rotation: to put the targets back on it if the rotation fails, and to revoke
it once the new token is in place.

The token is read from a hidden prompt, or from standard input with
--token-stdin; it is stored only sealed with the key file.`,
		Example: `  rotor adopt codepipeline-test-repo                 # hidden prompt
  op read op://ci/github/token | rotor adopt codepipeline-test-repo --token-stdin`,
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
			v, err := env.Engine(app.progress).Adopt(ctx, cred, tok)
			if err != nil {
				return err
			}
			return app.emit(v, func(w io.Writer) {
				fmt.Fprintf(w, "%s\tversion %d\t%s\tadopted as current (identity %s)\n", v.Credential, v.Seq, v.Fingerprint, orDash(v.Identity))
			})
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "token-stdin", false, "read the token from standard input instead of a prompt")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
