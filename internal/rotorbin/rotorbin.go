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
	"strings"
)

// Build runs `go build [flags] -o DIR/rotor ./cmd/rotor` in the module root
// and returns the binary's path. flags are extra build flags (-race, -tags,
// -overlay).
func Build(ctx context.Context, dir string, flags ...string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	// go test puts its own toolchain's bin first on the PATH it gives the
	// test, so this finds the go that runs the test.
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build rotor: %w", err)
	}
	bin := filepath.Join(dir, "rotor")
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/rotor")
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = root
	cmd.Env = buildEnv(os.Environ(), runtime.Version())
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rotor: %w\n%s", err, out)
	}
	return bin, nil
}

// buildEnv makes the child go build with the toolchain the test itself was
// built with: the go on PATH may be the machine's own older release, which
// ignores go.mod's toolchain line when GOTOOLCHAIN=local (as here), and the
// binary under test would then carry another standard library. An explicit
// GOTOOLCHAIN in the environment wins.
func buildEnv(env []string, running string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOTOOLCHAIN=") && kv != "GOTOOLCHAIN=" {
			return env
		}
	}
	// Only a release name (go1.27.3) names a toolchain go can switch to;
	// a development build (devel go1.28-abcdef …) cannot be fetched.
	if !strings.HasPrefix(running, "go1.") || strings.ContainsAny(running, " -+") {
		return env
	}
	return append(env, "GOTOOLCHAIN="+running)
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
