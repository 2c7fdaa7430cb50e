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
)

// Exit codes, as DESIGN.md promises them.
const (
	ExitOK         = 0
	ExitFailure    = 1
	ExitUsage      = 2 // usage or config error
	ExitRolledBack = 3 // a rotation failed and was rolled back
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
	Output     string // table | json
	LogFormat  string // text | json
	LogLevel   string
	Log        *slog.Logger
}

// UsageError marks a mistake in how rotor was called (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// ExitCoder lets a domain error choose its own exit code (config errors: 2,
// rolled-back rotations: 3) without cli importing every package's sentinels.
type ExitCoder interface{ ExitCode() int }

// Main runs rotor with args and returns the process exit code.
func Main(ctx context.Context, args []string, streams IO) int {
	app := &App{IO: streams}
	root := newRootCmd(app)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(streams.Err, "rotor: %v\n", err)
	return exitCode(err)
}

func exitCode(err error) int {
	var ec ExitCoder
	var ue *UsageError
	switch {
	case errors.As(err, &ec):
		return ec.ExitCode()
	case errors.As(err, &ue):
		return ExitUsage
	case isCobraUsage(err):
		return ExitUsage
	}
	return ExitFailure
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
	f.StringVarP(&app.Output, "output", "o", "table", "output format for data: table or json")
	f.StringVar(&app.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&app.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })

	for _, add := range commands {
		root.AddCommand(add(app))
	}
	// demo runs rotor commands through a root of its own, so it cannot sit
	// in the commands list (an initialisation cycle).
	root.AddCommand(newDemoCmd(app))
	return root
}

// commands lists every subcommand's constructor; each lives in its own file.
var commands = []func(*App) *cobra.Command{
	newInitCmd,
	newValidateCmd,
	newPlanCmd,
	newAdoptCmd,
	newRotateCmd,
	newRetireCmd,
	newStatusCmd,
	newHistoryCmd,
	newAuditCmd,
	newServeCmd,
	newMigrateStoreCmd,
	newScanCmd,
	newEmulatorCmd,
}

func (a *App) setup() error {
	switch a.Output {
	case "table", "json":
	default:
		return usageErrorf("--output %q: want table or json", a.Output)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.LogLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", a.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
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
