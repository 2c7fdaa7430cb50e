package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

//go:embed rotate-with-aws-cli.sh
var cliScript []byte

// errNoCLI says the AWS CLI is not installed.
var errNoCLI = errors.New("aws CLI not on PATH")

// cliRun is one timed run of the scripted seed procedure.
type cliRun struct {
	Pipelines int           // how many it updated
	Wall      time.Duration // for those
	PerPipe   time.Duration
}

// runCLI runs rotate-with-aws-cli.sh over names with tok in its environment,
// in a directory of its own (where it writes and deletes pipeline.json).
func (f *fleet) runCLI(ctx context.Context, tok token.Token, names []string) (cliRun, error) {
	if _, err := exec.LookPath("aws"); err != nil {
		return cliRun{}, errNoCLI
	}
	work := filepath.Join(f.dir, "aws-cli")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return cliRun{}, err
	}
	script := filepath.Join(f.dir, "rotate-with-aws-cli.sh")
	if err := os.WriteFile(script, cliScript, 0o700); err != nil {
		return cliRun{}, err
	}
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, names...)...)
	cmd.Dir = work
	cmd.Env = append(f.env(), "GITHUB_TOKEN="+tok.Reveal())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return cliRun{}, fmt.Errorf("rotate-with-aws-cli.sh: %w\n%s", err, indent(scrub(out.String(), tok)))
	}
	if left, _ := os.ReadDir(work); len(left) > 0 {
		return cliRun{}, fmt.Errorf("rotate-with-aws-cli.sh left %s behind", left[0].Name())
	}
	return cliRun{Pipelines: len(names), Wall: wall, PerPipe: wall / time.Duration(max(len(names), 1))}, nil
}

// scrub hides tok in s, should the CLI ever print it.
func scrub(s string, tok token.Token) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(tok.Reveal()), []byte(tok.Redacted())))
}
