package cli

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/plan"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

func newPlanCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "plan [NAME...]",
		Short: "Show every binding a rotation would touch, and what to look at first",
		Long: `Show, without changing anything, every binding that rotating each credential
would touch (for CodePipeline: every GitHub source action in every pipeline it
names or matches), and warnings: one token shared by several applications, an
action bound by two credentials, GitHub actions in the account that rotor does
not manage, CloudFormation-managed pipelines, tokens about to expire. Each
credential says by which route its current token will be revoked when it
retires (DELETE /installation/token, the queued POST /credentials/revoke, an
organisation's API with source.org_revoke).`,
		Example: `  rotor plan
  rotor plan codepipeline-test-repo -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd, app, args)
		},
	}
}

func runPlan(cmd *cobra.Command, app *App, names []string) error {
	ctx := cmd.Context()
	env, err := app.openEnv(ctx)
	if err != nil {
		return err
	}
	defer env.Close()
	if len(names) == 0 {
		for _, c := range env.Config.Credentials {
			names = append(names, c.Name)
		}
	}
	var in []plan.Input
	for _, name := range names {
		cc, err := env.Lookup(name)
		if err != nil {
			return &UsageError{Err: err}
		}
		// No AWS credentials: one line saying what to set, rather than
		// the same failure for every pipeline.
		if err := env.CheckAWSCredentials(ctx, cc); err != nil {
			return err
		}
		built, err := env.Credential(ctx, cc, wiring.CredentialOptions{})
		if err != nil {
			return err
		}
		pi := plan.Input{Config: *cc, Built: built}
		if _, mc, err := env.Migration(ctx, cc, built); err == nil {
			pi.Migration = &mc
		}
		in = append(in, pi)
	}
	r := plan.Build(ctx, env.Store, in, time.Now(), plan.Options{CloudFormation: env.CloudFormation})
	if err := app.emit(r, func(w io.Writer) {
		for _, c := range r.Credentials {
			fmt.Fprintf(w, "%s\t(%s, current %s)\t%d binding(s)\n", c.Name, c.Source, cmp.Or(c.Current, "-"), len(c.Bindings))
			for _, b := range c.Bindings {
				fmt.Fprintf(w, "  %s\t%s\t%s\n", b.ID, b.Resource, strings.Join(b.Repositories, ","))
			}
			if c.Error != "" {
				fmt.Fprintf(w, "  error:\t%s\n", c.Error)
			}
			for _, f := range c.CloudFormation {
				for _, n := range f.Notes {
					fmt.Fprintf(w, "  stack %s:\t%s\n", f.Stack, n)
				}
			}
			for i, rt := range c.Revocation {
				label := "revoked by:"
				if i > 0 {
					label = "then:"
				}
				via := ""
				if rt.App != "" {
					via = " through " + rt.App
				}
				fmt.Fprintf(w, "  %s %s%s (%s)\n", label, rt.Call, via, rt.Note)
			}
			if c.Migration != nil {
				printMigrationPlan(w, *c.Migration)
			}
		}
		if len(r.Warnings) > 0 {
			fmt.Fprintln(w, "\nwarnings:")
		}
		for _, x := range r.Warnings {
			where := strings.TrimSpace(x.Credential + " " + x.Binding)
			fmt.Fprintf(w, "  %s\t%s\t%s\n", x.Kind, where, x.Message)
		}
	}); err != nil {
		return err
	}
	for _, c := range r.Credentials {
		if c.Error != "" {
			return fmt.Errorf("%s: discovery failed: %s", c.Name, c.Error)
		}
	}
	return nil
}
