package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/wiring"
)

func newValidateCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config; errors name file:line and field",
		Long: `Check rotor.yaml without touching anything: unknown keys, wrong types,
missing fields, bad durations, unknown source and target types, and tokens
pasted into the config. Every mistake is listed with its file, line and field.
Exits 2 when there is any.

File targets are also looked at on this host, read-only, and what a
rotation would refuse is printed as a warning: a symbolic link in the path,
a directory other users may write, a file that holds something other than
one GitHub token, a missing file without create: true.`,
		Example: `  rotor validate
  rotor validate -c /etc/rotor/rotor.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidate(cmd.Context(), app)
		},
	}
}

type validateView struct {
	File        string        `json:"file"`
	OK          bool          `json:"ok"`
	Credentials int           `json:"credentials"`
	Targets     int           `json:"targets"`
	Errors      []*configItem `json:"errors,omitempty"`
	// Host lists what file targets point to on this host that a rotation
	// would refuse (warnings: a config may be validated elsewhere).
	Host []string `json:"host_warnings,omitempty"`
}

type configItem struct {
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func runValidate(ctx context.Context, app *App) error {
	cfg, err := config.Load(app.ConfigPath)
	if err == nil {
		n, m := len(cfg.Credentials), cfg.TargetCount()
		v := validateView{File: app.ConfigPath, OK: true, Credentials: n, Targets: m, Host: hostChecks(ctx, cfg)}
		if app.Output != "table" {
			return app.emit(v, nil)
		}
		fmt.Fprintf(app.Out, "%s: ok (%s, %s)\n", app.ConfigPath, nounCount(n, "credential"), nounCount(m, "target"))
		for _, w := range v.Host {
			fmt.Fprintf(app.Err, "warning: on this host: %s\n", w)
		}
		return nil
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		return err
	}
	if app.Output != "table" {
		v := validateView{File: app.ConfigPath}
		for _, e := range errs {
			v.Errors = append(v.Errors, &configItem{Line: e.Line, Field: e.Field, Message: e.Msg})
		}
		if err := app.emit(v, nil); err != nil {
			return err
		}
	} else {
		for _, e := range errs {
			fmt.Fprintln(app.Err, e)
		}
	}
	return &invalidConfig{file: app.ConfigPath, n: len(errs)}
}

// invalidConfig sums up a failed validate after every error was printed.
type invalidConfig struct {
	file string
	n    int
}

func (e *invalidConfig) Error() string {
	return fmt.Sprintf("%s: %s", e.file, nounCount(e.n, "error"))
}

func nounCount(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// hostChecks looks, read-only, at what each file target points to on this
// host, with the checks a rotation makes before it writes (a symbolic link
// in the path, a directory others may write, a file that holds something
// other than a token, a missing file without create). They are warnings:
// a config is often validated on another machine than the one it runs on.
// 'rotor plan' makes the same checks as errors, with the store's knowledge
// of which tokens are rotor's.
func hostChecks(ctx context.Context, cfg *config.Config) []string {
	var out []string
	for i, cc := range cfg.Credentials {
		for j, tc := range cc.Targets {
			if tc.Type != config.TargetFile {
				continue
			}
			where := fmt.Sprintf("credentials[%d].targets[%d] (file %s)", i, j, tc.Path)
			t, err := wiring.FileTarget(ctx, tc)
			if err == nil {
				var bs []rotation.Binding
				bs, err = t.Discover(ctx)
				for _, b := range bs {
					for _, w := range b.Warnings {
						out = append(out, where+": "+w)
					}
				}
			}
			if err != nil {
				out = append(out, where+": "+err.Error())
			}
		}
	}
	return out
}
