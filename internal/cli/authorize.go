package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/wiring"
)

type authorizeFlags struct {
	force    bool
	noRotate bool
}

func newAuthorizeCmd(app *App) *cobra.Command {
	var f authorizeFlags
	cmd := &cobra.Command{
		Use:   "authorize NAME",
		Short: "Authorize rotor as a GitHub user for a github-app-user credential (device flow)",
		Long: `Authorize rotor to act as a GitHub user through the credential's GitHub App,
with GitHub's device flow: rotor prints a code and a URL; open the URL, sign
in as the user whose token the targets should hold, enter the code and
approve. rotor then keeps the user token's refresh token (sealed in its
store) and rotates the credential, so every target gets the new token.

Run it once to start, and again whenever rotor says a person is needed
(GitHub refused the refresh token: it expired after six months unused, was
revoked, or a crash lost the answer to a refresh). No token is ever shown.`,
		Example: `  rotor authorize ci-user-token
  rotor authorize ci-user-token --no-rotate   # keep the grant; the next rotation uses it`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuthorize(cmd, app, args[0], f)
		},
	}
	cmd.Flags().BoolVar(&f.force, "force", false, "replace an authorization that still works (the old one is revoked once the new token is in place)")
	cmd.Flags().BoolVar(&f.noRotate, "no-rotate", false, "only record the authorization; do not rotate now")
	return cmd
}

func runAuthorize(cmd *cobra.Command, app *App, name string, f authorizeFlags) error {
	ctx := cmd.Context()
	env, err := app.openEnv(ctx)
	if err != nil {
		return err
	}
	cc, err := env.Lookup(name)
	if err != nil {
		env.Close()
		return &UsageError{Err: err}
	}
	if cc.Source.Type != config.SourceGitHubAppUser {
		env.Close()
		return usageErrorf("%s has a %s source: only %s credentials are authorized with the device flow", name, cc.Source.Type, config.SourceGitHubAppUser)
	}
	cred, err := env.Credential(ctx, cc, wiring.CredentialOptions{})
	if err != nil {
		env.Close()
		return err
	}
	src, ok := cred.Source.(grant.Authorizer)
	if !ok {
		env.Close()
		return fmt.Errorf("%s: its %s source cannot run the device flow", name, cred.Source.Type())
	}
	got, err := src.Authorize(ctx, f.force, func(p grant.Prompt) {
		fmt.Fprintf(app.Err, "To authorize rotor for %s, open %s\nand enter the code %s (it expires in %s). Waiting…\n", name, p.URL, p.Code, p.ExpiresIn)
	})
	if err != nil {
		env.Close()
		if errors.Is(err, grant.ErrGrantReady) {
			return &UsageError{Err: err}
		}
		return fmt.Errorf("authorize %s: %w", name, err)
	}
	defer env.Close()
	fmt.Fprintf(app.Err, "authorized as GitHub user %s; rotor keeps the refresh token sealed in its store\n", cmp.Or(got.Login, "-"))
	var hasCurrent, hasOpen bool
	if vs, err := env.Store.Versions(ctx, name); err == nil {
		for _, v := range vs {
			hasCurrent = hasCurrent || v.State == rotation.VersionCurrent
		}
	}
	if _, err := env.Store.OpenRun(ctx, name); err == nil {
		hasOpen = true
	}
	if f.noRotate {
		fmt.Fprintf(app.Err, "not rotating now: 'rotor rotate %s' (or rotor serve) puts the new token in place\n", name)
		return nil
	}
	err = runRotate(cmd, app, name, rotateFlags{resume: hasOpen, bootstrap: !hasCurrent})
	if err != nil || got.Previous.IsZero() {
		return err
	}
	seq, err := heldVersion(ctx, env.Store, name, got.PreviousPair)
	if err != nil {
		return fmt.Errorf("rotated, but reading %s's versions to end the replaced authorization failed (it ends when its user token is retired): %w", name, err)
	}
	if seq != 0 {
		// Revoking the old refresh token now would end its user token
		// under the targets still in their grace period; retiring that
		// version revokes the pair when the grace period is over.
		fmt.Fprintf(app.Err, "the replaced authorization ends when version %d, its user token, is retired after the grace period\n", seq)
		return nil
	}
	// The new token is in place and nothing holds the old pair: end the
	// authorization it replaced.
	if rerr := src.Revoke(ctx, got.Previous); rerr != nil {
		return fmt.Errorf("rotated, but revoking the replaced authorization failed: %w", rerr)
	}
	return nil
}

// heldVersion is the sequence number of the credential's version with this
// fingerprint while it is not yet retired, or 0.
func heldVersion(ctx context.Context, st interface {
	Versions(context.Context, string) ([]rotation.Version, error)
}, name, fingerprint string) (int64, error) {
	if fingerprint == "" {
		return 0, nil
	}
	vs, err := st.Versions(ctx, name)
	if err != nil {
		return 0, err
	}
	for _, v := range vs {
		if v.Fingerprint == fingerprint && v.State != rotation.VersionRetired {
			return v.Seq, nil
		}
	}
	return 0, nil
}
