// Command rotor keeps the GitHub tokens that CI/CD pipelines use fresh.
// Everything lives in internal/cli; main only wires the process to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rotor-ci/rotor/internal/cli"
)

// Stamped by the release build (scripts/release):
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<sha> -X main.date=<RFC 3339>"
//
// Empty otherwise: `rotor version` then reads what the Go toolchain recorded
// (the module version after `go install …/cmd/rotor@v1.2.3`).
var version, commit, date string

func main() {
	cli.Stamp(version, commit, date)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
