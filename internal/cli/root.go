package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/migrate"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// Exit codes, as DESIGN.md promises them.
const (
	ExitOK         = 0
	ExitFailure    = 1
	ExitUsage      = 2 // usage or config error
	ExitRolledBack = 3 // a rotation failed and was rolled back
	// ExitStragglers: a rotation succeeded while some bindings still wait
	// for their pipeline (they keep the previous token and move when it is
	// idle); the job is not finished until they have.
	ExitStragglers = 4
)

// IO is the process's standard streams; tests pass buffers.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// App is what every command shares: streams, global flags and the logger.
type App struct {
	IO
	ConfigPath string
	Output     string // table | json | yaml (output.go)
	LogFormat  string // text | json
	LogLevel   string
	Log        *slog.Logger
	// Wiring changes how the implementations are built (tests, the demo).
	Wiring []wiring.Option
}

// UsageError marks a mistake in how rotor was called (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// Main runs rotor with args and returns the process exit code.
// A token given as an argument is refused before any command runs (exit 2).
// opts change how wiring builds the implementations (tests).
func Main(ctx context.Context, args []string, streams IO, opts ...wiring.Option) int {
	if refuseTokenArgs(args, streams.Err) {
		return ExitUsage
	}
	return execute(ctx, args, streams, opts)
}

// execute runs the command tree. Everything printed, by rotor or by cobra
// itself, and the final error pass through token.RedactText.
func execute(ctx context.Context, args []string, streams IO, opts []wiring.Option) int {
	out, errw := redacting{streams.Out}, redacting{streams.Err}
	app := &App{IO: IO{In: streams.In, Out: out, Err: errw}, Wiring: opts}
	root := newRootCmd(app)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(out)
	root.SetErr(errw)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(streams.Err, "rotor: %s\n", token.RedactText(err.Error()))
	return exitCode(err)
}

// exitCode is the one place an error becomes an exit code (DESIGN.md).
func exitCode(err error) int {
	var (
		usage      *UsageError
		invalid    *invalidConfig
		configErr  *config.Error
		stragglers *stragglersError
	)
	switch {
	case errors.Is(err, rotation.ErrRolledBack), errors.Is(err, migrate.ErrRolledBack):
		return ExitRolledBack
	case errors.As(err, &stragglers):
		return ExitStragglers
	case errors.As(err, &usage), errors.As(err, &invalid), errors.As(err, &configErr), isCobraUsage(err):
		return ExitUsage
	}
	return ExitFailure // scanFailure (findings at or above --fail-on) too
}

// cobra reports flag and argument mistakes as plain errors; recognise them
// by their fixed wording so that they exit 2 like every other usage error.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires exactly", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCmd(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "rotor",
		Short: "Keep the GitHub tokens your pipelines use fresh",
		Long: `rotor rotates the GitHub tokens that CI/CD pipelines use (AWS CodePipeline
GitHub source actions first): it mints or accepts a new token, checks it,
applies it to every target, verifies each one, rolls back on failure and
retires the old token after a grace period. No token is ever written
anywhere in the clear.

Start with 'rotor demo' to watch a full rotation on local emulators.`,
		Example: `  rotor demo                                  # a whole rotation on local emulators
  rotor emulator                              # then follow the commands it prints
  rotor plan -c /etc/rotor/rotor.yaml -o yaml
  source <(rotor completion bash)             # complete commands, credential names and flag values`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return app.setup()
		},
	}
	defaultConfig := "rotor.yaml"
	if env := os.Getenv("ROTOR_CONFIG"); env != "" {
		defaultConfig = env
	}
	f := root.PersistentFlags()
	f.StringVarP(&app.ConfigPath, "config", "c", defaultConfig, "config file (env ROTOR_CONFIG)")
	f.StringVarP(&app.Output, "output", "o", "table", "output format for data: table, json or yaml")
	f.StringVar(&app.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&app.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })

	for _, add := range commands {
		root.AddCommand(add(app))
	}
	// demo runs rotor commands through a root of its own, so it cannot sit
	// in the commands list (an initialisation cycle).
	root.AddCommand(newDemoCmd(app))
	addVersion(root, app) // `rotor version` and `rotor --version`
	addCompletions(root, app)
	return root
}

// commands lists every subcommand's constructor; each lives in its own file.
var commands = []func(*App) *cobra.Command{
	newInitCmd,
	newValidateCmd,
	newPlanCmd,
	newAdoptCmd,
	newRotateCmd,
	newAuthorizeCmd,
	newRetireCmd,
	newMigrateCmd,
	newStatusCmd,
	newHistoryCmd,
	newAuditCmd,
	newServeCmd,
	newMigrateStoreCmd,
	newMigrateKeyCmd,
	newScanCmd,
	newEmulatorCmd,
}

func (a *App) setup() error {
	if err := checkOutput(a.Output); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.LogLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", a.LogLevel)
	}
	// Whatever a log record carries, a token-shaped value in it is logged
	// as its fingerprint.
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: token.RedactAttr}
	switch a.LogFormat {
	case "text":
		a.Log = slog.New(slog.NewTextHandler(a.Err, opts))
	case "json":
		a.Log = slog.New(slog.NewJSONHandler(a.Err, opts))
	default:
		return usageErrorf("--log-format %q: want text or json", a.LogFormat)
	}
	return nil
}
