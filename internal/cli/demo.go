package cli

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/rotor-ci/rotor/internal/demo"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

func newDemoCmd(app *App) *cobra.Command {
	o := demo.Options{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch a whole rotation on local emulators, in seconds, with no setup",
		Long: `Start local GitHub and CodePipeline emulators in this process (bound to
127.0.0.1; nothing leaves the machine) and play the AWS guide's story with
rotor: the pipeline MyFirstPipeline runs on today's token, a person creates a
new token, rotor rotates it in with its real engine, store and target, the
pipeline runs again, the old token is revoked, and the same happens with a
GitHub App. Every rotor step is printed as the command a user would type.

With --regenerate it plays the guide's own path instead (Regenerate in GitHub
first, update the pipeline after) and measures the window in which the
pipeline held a dead token, beside rotor's.`,
		Example: `  rotor demo
  rotor demo --regenerate --human-delay 5s`,
		Args: cobra.NoArgs,
		// The demo needs no config file of its own.
		PersistentPreRunE: func(*cobra.Command, []string) error { return app.setup() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = app.Out
			o.Rotor = func(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
				if stdin == nil {
					stdin = emptyReader{}
				}
				// Every AWS client of the demo's commands gets the demo's
				// credentials and reads none of the machine's AWS config.
				opts := append(slices.Clone(app.Wiring), wiring.WithStaticAWSCredentials(demo.AWSAccessKeyID, demo.AWSSecretAccessKey))
				sub := &App{IO: IO{In: stdin, Out: out, Err: out}, Wiring: opts}
				root := newRootCmd(sub)
				root.SetArgs(args)
				root.SetIn(stdin)
				root.SetOut(out)
				root.SetErr(out)
				return root.ExecuteContext(ctx)
			}
			o.Inspect = inspect
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Regenerate, "regenerate", false, "play the guide's own path (regenerate, then update) and measure its outage")
	cmd.Flags().DurationVar(&o.HumanDelay, "human-delay", 2*time.Second, "with --regenerate: how long the person takes between regenerating and updating")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "keep the demo's directory (config, store, key) afterwards")
	return cmd
}

// inspect lets tests look at the demo's emulators and directory before
// they are gone.
var inspect func(*emulator.Sandbox, string)

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }
