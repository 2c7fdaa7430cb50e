package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

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
// (the run's result then says how each account went).
func (a *App) bindingProgress() func(rotation.Progress) {
	if !isTTY(a.Err) {
		return nil
	}
	return progressLine(a.Err, a.marks)
}

// progressLine redraws one line of bindings done and, for a target over
// several accounts and regions, prints a line for each as it finishes, so
// that the ones still going (a slow or throttled account) stand out.
func progressLine(w io.Writer, marks func() (ok, failed string)) func(rotation.Progress) {
	var mu sync.Mutex
	finished := map[string]bool{} // by account and region, in this Apply or Verify
	return func(p rotation.Progress) {
		mu.Lock()
		defer mu.Unlock()
		ok, failed := marks()
		places := 0
		for _, pl := range p.Places {
			key := pl.Account + " " + pl.Region
			if pl.Done < pl.Total {
				finished[key] = false // a new call began
				continue
			}
			places++
			if finished[key] {
				continue
			}
			finished[key] = true
			mark := ok
			if pl.Failed > 0 {
				mark = failed
			}
			fmt.Fprintf(w, "\r\x1b[K    %s account %s %s: %d binding(s), %d failed\n", mark, pl.Account, pl.Region, pl.Total, pl.Failed)
		}
		fmt.Fprintf(w, "\r\x1b[K    %d/%d bindings, %d failed", p.Done, p.Total, p.Failed)
		if len(p.Places) > 1 {
			fmt.Fprintf(w, "; %d of %d accounts × regions done", places, len(p.Places))
		}
		if p.Done == p.Total {
			fmt.Fprintln(w)
		}
	}
}
