package cli

import (
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/spf13/cobra"
)

func newEmulatorCmd(app *App) *cobra.Command {
	var cfg emulator.Config
	var worldPath string
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Serve local GitHub and CodePipeline emulators (for tests and rehearsal)",
		Long: `Serve a GitHub-compatible API and a CodePipeline-compatible API on loopback,
faithful enough that the AWS CLI, the AWS SDKs and go-github work against
them unchanged. Prints one line per API once they accept connections
(STS, Organizations and CodeConnections share the CodePipeline endpoint):

  github http://127.0.0.1:PORT
  codepipeline http://127.0.0.1:PORT2
  sts http://127.0.0.1:PORT2
  organizations http://127.0.0.1:PORT2
  codeconnections http://127.0.0.1:PORT2

then the part of rotor.yaml that points at them and, for the default world,
the commands of a first rotation ('rotor init --emulator URL' writes the
whole config), and runs until interrupted. The world file seeds users, repositories, tokens,
apps, pipelines, AWS accounts and regions, roles and faults; --state keeps everything across restarts. See
docs/emulator.md.`,
		Example: `  rotor emulator
  rotor emulator --world world.yaml --state emulator-state.json \
      --github-addr 127.0.0.1:9001 --codepipeline-addr 127.0.0.1:9002
  aws codepipeline get-pipeline --name MyFirstPipeline --endpoint-url http://127.0.0.1:9002`,
		Args:              cobra.NoArgs,
		PersistentPreRunE: func(*cobra.Command, []string) error { return app.setup() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.World = emulator.DefaultWorld()
			if worldPath != "" {
				w, err := emulator.LoadWorld(worldPath)
				if err != nil {
					return &UsageError{Err: err}
				}
				cfg.World = w
			}
			cfg.Logger = app.Log
			cfg.Notes = emulatorNotes(worldPath == "" && cfg.StateFile == "")
			return emulator.Serve(cmd.Context(), cfg, app.Out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.GitHubAddr, "github-addr", "127.0.0.1:0", "loopback address for the GitHub API")
	f.StringVar(&cfg.CodePipelineAddr, "codepipeline-addr", "127.0.0.1:0", "loopback address for the CodePipeline API")
	f.StringVar(&worldPath, "world", "", "world file (YAML); default: the AWS guide's world (MyGitHubUserName, test-repo, MyFirstPipeline)")
	f.StringVar(&cfg.StateFile, "state", "", "keep all state in this file across restarts (written atomically, 0600; it holds the emulated tokens)")
	f.DurationVar(&cfg.PollInterval, "poll-interval", 0, "how often polling pipelines fetch from GitHub (default 1s)")
	return cmd
}
