package cli

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// Shell completion: cobra's 'rotor completion bash|zsh|fish|powershell'
// scripts call 'rotor __complete …', which lands here for arguments and
// flag values. Everything is read from the config and local files: no
// store write, no network, so that a Tab press is instant.

// credentialArgs says which commands take credential names, and how many
// (-1: any number).
var credentialArgs = map[string]int{
	"adopt": 1, "rotate": 1, "history": 1, "status": 1, "retire": -1, "plan": -1,
}

// flagValues are the fixed values of flags, wherever they appear.
var flagValues = map[string][]string{
	"output":     outputFormats,
	"log-format": {"text", "json"},
	"log-level":  {"debug", "info", "warn", "error"},
	"fail-on":    {"current", "previous", "any", "none"},
	"format":     {"table", "json", "yaml", "sarif"},
	"in-flight":  {config.InFlightWait, config.InFlightSkip, config.InFlightInterrupt},
}

// addCompletions registers the completions of the whole tree under root.
func addCompletions(root *cobra.Command, app *App) {
	walk(root, func(c *cobra.Command) {
		if n, ok := credentialArgs[c.Name()]; ok && c.Parent() == root && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = completeCredentials(app, n)
		}
		for name, values := range flagValues {
			if c.LocalFlags().Lookup(name) == nil { // flags are registered where they are defined
				continue
			}
			_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
		if c.LocalFlags().Lookup("pipeline") != nil {
			_ = c.RegisterFlagCompletionFunc("pipeline", completePipelines(app))
		}
	})
}

// walk calls fn for every command under c, c included.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// completeCredentials offers the config's credential names not already
// given, each with its application; max is how many the command takes.
func completeCredentials(app *App, max int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max >= 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := config.Load(app.ConfigPath)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		for _, c := range cfg.Credentials {
			if strings.HasPrefix(c.Name, prefix) && !slices.Contains(args, c.Name) {
				out = append(out, cobra.CompletionWithDesc(c.Name, c.Application))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completePipelines offers pipeline names: those in the config and those
// the codepipeline inventory in the store remembers (no AWS call).
// For a --pipeline flag (rotor migrate).
func completePipelines(app *App) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cfg, err := config.Load(app.ConfigPath)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		ctx := cmd.Context()
		if ctx == nil { // called outside Execute
			ctx = context.Background()
		}
		env, err := wiring.Open(ctx, cfg, slog.New(slog.DiscardHandler), app.Wiring...)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		defer env.Close()
		var out []cobra.Completion
		for _, p := range env.PipelineNames(ctx) {
			if strings.HasPrefix(p, prefix) {
				out = append(out, p)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
