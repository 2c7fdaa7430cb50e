package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/seal"
)

func newInitCmd(app *App) *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write an example rotor.yaml and create the sealing key (0600)",
		Long: `Write a commented example rotor.yaml and create the age key that seals
every token rotor stores. An existing rotor.yaml is kept unless --force is
given; an existing key is always kept, since replacing it would make every
stored token unreadable. The store itself is created by the first command
that opens it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := app.ConfigPath
			if dir != "" {
				path = filepath.Join(dir, "rotor.yaml")
			}
			return runInit(app, path, force)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write rotor.yaml and rotor.key in (default: that of --config)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing rotor.yaml (the key is never replaced)")
	return cmd
}

func runInit(app *App, path string, force bool) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err == nil && !force {
		return usageErrorf("%s already exists: edit it, or pass --force to replace it with the example", path)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	example := config.Example()
	cfg, err := config.Parse([]byte(example), abs)
	if err != nil {
		return fmt.Errorf("init: the example config is invalid: %w", err) // a bug, caught by tests
	}
	if err := writeFileAtomic(abs, []byte(example), 0o644); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	keyPath := cfg.KeyPath()
	keyNew := true
	if err := seal.Generate(keyPath); errors.Is(err, seal.ErrKeyExists) {
		keyNew = false
	} else if err != nil {
		return fmt.Errorf("init: %w", err)
	}

	if app.Output == "json" {
		return writeJSONTo(app.Out, struct {
			Config     string `json:"config"`
			Key        string `json:"key"`
			KeyCreated bool   `json:"key_created"`
			Store      string `json:"store"`
		}{abs, keyPath, keyNew, cfg.Store})
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
  4. rotor rotate%s my-pipeline-github  create a NEW token in GitHub (Generate new token,
                                        not Regenerate) and paste it when asked
Or watch a whole rotation on local emulators first: rotor demo
`, filepath.Base(abs), cflag, cflag, cflag)
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

// writeJSONTo writes v as indented JSON.
func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
