package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/wiring"
)

func newInitCmd(app *App) *cobra.Command {
	var dir string
	var force bool
	var emulatorURL string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write an example rotor.yaml and create the sealing key (0600)",
		Long: `Write a commented example rotor.yaml and create the age key that seals
every token rotor stores. Next to an existing rotor.yaml (one you wrote by
hand), init leaves it alone, checks it, and creates the key and the store it
names if they are missing; --force replaces it with the example instead. An
existing key is always kept, since replacing it would make every stored
token unreadable.

With --emulator URL (the AWS endpoint 'rotor emulator' prints), the example
points at that emulator: github.api_url, aws.endpoint_url and aws.region
are read from it.`,
		Example: `  rotor init                        # rotor.yaml and rotor.key here
  rotor init --dir /etc/rotor       # elsewhere
  rotor init --emulator http://127.0.0.1:8082   # for 'rotor emulator' (see its output)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := app.ConfigPath
			if dir != "" {
				path = filepath.Join(dir, "rotor.yaml")
			}
			example := config.Example()
			if emulatorURL != "" {
				if _, err := os.Stat(path); err == nil && !force {
					return usageErrorf("%s exists: pass --force to replace it with a config for the emulator (the key is kept)", path)
				}
				ep, err := emulatorEndpoints(cmd.Context(), emulatorURL)
				if err != nil {
					return err
				}
				if example, err = emulatorConfig(ep); err != nil {
					return err
				}
			}
			return runInit(app, path, force, example)
		},
	}
	cmd.Flags().StringVar(&emulatorURL, "emulator", "", "write a config for 'rotor emulator' at this URL (its AWS endpoint)")
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write rotor.yaml and rotor.key in (default: that of --config)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing rotor.yaml (the key is never replaced)")
	return cmd
}

func runInit(app *App, path string, force bool, example string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err == nil && !force {
		return initAround(app, path)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	cfg, err := config.Parse([]byte(example), abs)
	if err != nil {
		return fmt.Errorf("init: the example config is invalid: %w", err) // a bug, caught by tests
	}
	if err := writeFileAtomic(abs, []byte(example), 0o644); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	keyPath := cfg.KeyPath()
	keyNew := true
	if err := wiring.GenerateKey(keyPath); errors.Is(err, wiring.ErrKeyExists) {
		keyNew = false
	} else if err != nil {
		return fmt.Errorf("init: %w", err)
	}

	if app.Output != "table" {
		return app.emit(struct {
			Config     string `json:"config"`
			Key        string `json:"key"`
			KeyCreated bool   `json:"key_created"`
			Store      string `json:"store"`
		}{abs, keyPath, keyNew, cfg.Store}, nil)
	}
	out := app.Out
	fmt.Fprintf(out, "wrote %s\n", abs)
	if keyNew {
		fmt.Fprintf(out, "created the sealing key %s (mode 0600): back it up, without it stored tokens cannot be read\n", keyPath)
	} else {
		fmt.Fprintf(out, "kept the existing sealing key %s (a new one would make stored tokens unreadable)\n", keyPath)
	}
	fmt.Fprintf(out, "the store (%s) is created by the first command that opens it\n", cfg.Store)
	cflag := ""
	if rel, err := filepath.Rel(mustGetwd(), abs); err != nil || rel != "rotor.yaml" {
		cflag = " -c " + abs
	}
	fmt.Fprintf(out, `
Next steps:
  1. Edit %s: name your pipelines, and give each application its own credential.
  2. rotor validate%s
  3. rotor plan%s                      every binding a rotation would touch, and warnings
  4. rotor rotate%s codepipeline-test-repo  create a NEW token in GitHub (Generate new token,
                                        not Regenerate) and paste it when asked
Or watch a whole rotation on local emulators first: rotor demo
`, filepath.Base(abs), cflag, cflag, cflag)
	return nil
}

// initAround completes an installation around a config someone wrote:
// the config is checked and left as it is; the key and the store it names
// are created when missing.
func initAround(app *App, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return fmt.Errorf("%w\n%s exists and is kept; fix it, or pass --force to replace it with the example", err, path)
	}
	keyPath := cfg.KeyPath()
	keyNew := false
	if keyPath != "" {
		switch err := wiring.GenerateKey(keyPath); {
		case err == nil:
			keyNew = true
		case !errors.Is(err, wiring.ErrKeyExists):
			return fmt.Errorf("init: %w", err)
		}
	}
	// Opening the store creates it (and its schema) when it does not
	// exist yet; the key must open too, or nothing stored could be read.
	if err := wiring.CheckInstallation(context.Background(), cfg); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if app.Output != "table" {
		return app.emit(struct {
			Config     string `json:"config"`
			ConfigKept bool   `json:"config_kept"`
			Key        string `json:"key"`
			KeyCreated bool   `json:"key_created"`
			Store      string `json:"store"`
		}{path, true, keyPath, keyNew, cfg.Store}, nil)
	}
	out := app.Out
	fmt.Fprintf(out, "kept %s (it is valid)\n", path)
	switch {
	case keyNew:
		fmt.Fprintf(out, "created the sealing key %s (mode 0600): back it up, without it stored tokens cannot be read\n", keyPath)
	case keyPath != "":
		fmt.Fprintf(out, "kept the existing sealing key %s\n", keyPath)
	default:
		fmt.Fprintf(out, "the sealing key is %s\n", cfg.Key)
	}
	fmt.Fprintf(out, "the store %s is ready\n", cfg.Store)
	return nil
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so that path is never seen half-written.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
