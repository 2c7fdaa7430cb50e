// Package rotorbin builds the rotor command, for the tests and benchmarks
// that must run the real binary as a separate process (to kill it, pause it,
// measure its memory). One builder serves them all.
package rotorbin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Build runs `go build [flags] -o DIR/rotor ./cmd/rotor` in the module root
// and returns the binary's path. flags are extra build flags (-race, -tags,
// -overlay).
func Build(ctx context.Context, dir string, flags ...string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "rotor")
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/rotor")
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rotor: %w\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot is the directory of rotor's go.mod, found from the working
// directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the rotor module")
		}
		dir = parent
	}
}
