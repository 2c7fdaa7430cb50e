package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

func newRetireCmd(app *App) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "retire [NAME...]",
		Short: "Revoke previous tokens whose grace period has ended",
		Long: `Revoke every previous token whose grace period has ended, for the named
credentials or all of them. A token is revoked only when every binding was
verified on its successor; 'rotor serve' does this on its own.`,
		Example: `  rotor retire                         # every credential
  rotor retire codepipeline-test-repo
  rotor retire --dry-run -o json       # what would be revoked now; nothing is`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return app.withEnv(cmd, func(ctx context.Context, env *wiring.Env) error {
				names := args
				if len(names) == 0 {
					for _, c := range env.Config.Credentials {
						names = append(names, c.Name)
					}
				}
				var all []rotation.Version
				for _, name := range names {
					cc, err := env.Lookup(name)
					if err != nil {
						return &UsageError{Err: err}
					}
					cred, err := env.Credential(ctx, cc, wiring.CredentialOptions{})
					if err != nil {
						return err
					}
					eng := env.Engine(app.progress)
					retire := eng.Retire
					if dryRun {
						retire = eng.RetireDue
					}
					got, err := retire(ctx, cred)
					if err != nil {
						return err
					}
					all = append(all, got...)
				}
				return app.emit(all, func(w io.Writer) {
					if len(all) == 0 {
						fmt.Fprintln(w, "nothing to retire")
					}
					for _, v := range all {
						how := "revoked"
						if dryRun {
							how = "would be revoked (--dry-run)"
						}
						if v.Note != "" {
							how = "delete by hand: " + v.Note
						}
						fmt.Fprintf(w, "%s\tversion %d\t%s\t%s\n", v.Credential, v.Seq, v.Fingerprint, how)
					}
				})
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be revoked now, and revoke nothing")
	return cmd
}
