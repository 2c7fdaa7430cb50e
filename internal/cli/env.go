package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// loadConfig reads the config named by --config.
func (a *App) loadConfig() (*config.Config, error) {
	return config.Load(a.ConfigPath)
}

// openEnv loads the config and opens the store and key it names.
func (a *App) openEnv(ctx context.Context) (*wiring.Env, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	return wiring.Open(ctx, cfg, a.Log, a.Wiring...)
}

// withEnv opens the installation, runs fn with it and closes it.
func (a *App) withEnv(cmd *cobra.Command, fn func(ctx context.Context, env *wiring.Env) error) error {
	ctx := cmd.Context()
	env, err := a.openEnv(ctx)
	if err != nil {
		return err
	}
	defer env.Close()
	return fn(ctx, env)
}

// progress prints engine events as they happen, one line each, on stderr
// so that stdout stays data.
func (a *App) progress(e rotation.Event) {
	ok, failed := a.marks()
	mark := ok
	if !e.OK {
		mark = failed
	}
	fmt.Fprintf(a.Err, "  %s %-8s %s\n", mark, e.Step, e.Message)
}

// isTTY reports whether r is a terminal (for hidden prompts and progress).
func isTTY(stream any) bool {
	if r, ok := stream.(redacting); ok {
		stream = r.w
	}
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// bindingProgress returns a fan-out progress reporter for a terminal, or nil
// (targets then log structured lines instead).
func (a *App) bindingProgress() func(done, total, failed int) {
	if !isTTY(a.Err) {
		return nil
	}
	return func(done, total, failed int) {
		fmt.Fprintf(a.Err, "\r    %d/%d bindings, %d failed", done, total, failed)
		if done == total {
			fmt.Fprintln(a.Err)
		}
	}
}
