package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
)

func newValidateCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config; errors name file:line and field",
		Long: `Check rotor.yaml without touching anything: unknown keys, wrong types,
missing fields, bad durations, unknown source and target types, and tokens
pasted into the config. Every mistake is listed with its file, line and field.
Exits 2 when there is any.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidate(app)
		},
	}
}

type validateView struct {
	File        string        `json:"file"`
	OK          bool          `json:"ok"`
	Credentials int           `json:"credentials"`
	Targets     int           `json:"targets"`
	Errors      []*configItem `json:"errors,omitempty"`
}

type configItem struct {
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func runValidate(app *App) error {
	cfg, err := config.Load(app.ConfigPath)
	if err == nil {
		n, m := len(cfg.Credentials), cfg.TargetCount()
		v := validateView{File: app.ConfigPath, OK: true, Credentials: n, Targets: m}
		if app.Output == "json" {
			return writeJSONTo(app.Out, v)
		}
		fmt.Fprintf(app.Out, "%s: ok (%s, %s)\n", app.ConfigPath, nounCount(n, "credential"), nounCount(m, "target"))
		return nil
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		return err
	}
	if app.Output == "json" {
		v := validateView{File: app.ConfigPath}
		for _, e := range errs {
			v.Errors = append(v.Errors, &configItem{Line: e.Line, Field: e.Field, Message: e.Msg})
		}
		if err := writeJSONTo(app.Out, v); err != nil {
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

func (e *invalidConfig) ExitCode() int { return ExitUsage }

func nounCount(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
