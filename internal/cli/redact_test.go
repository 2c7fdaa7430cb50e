package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rotor-ci/rotor/internal/token"
)

// tokenPositions walks the whole command tree and returns, for every
// command, argument lists that put canary where an argument, a flag value
// (--flag=V and --flag V), a flag name or a subcommand name goes.
func tokenPositions(canary string) [][]string {
	var out [][]string
	out = append(out, []string{canary}, []string{"help", canary}, []string{"--" + canary}, []string{"-" + canary})
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		at := func(extra ...string) {
			out = append(out, append(append([]string(nil), path...), extra...))
		}
		at(canary)
		at("some-name", canary) // rotor rotate NAME <TOKEN>
		at("--" + canary)
		seen := map[string]bool{}
		visit := func(f *pflag.Flag) {
			if seen[f.Name] {
				return
			}
			seen[f.Name] = true
			at("--" + f.Name + "=" + canary)
			if f.NoOptDefVal == "" { // takes a value: --flag V
				at("--"+f.Name, canary)
			}
			if f.Shorthand != "" {
				at("-" + f.Shorthand + "=" + canary)
			}
		}
		c.LocalFlags().VisitAll(visit)
		c.InheritedFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newRootCmd(&App{}), nil)
	return out
}

// runIn runs fn's rotor with a config path that does not exist, in an
// empty directory, with a context that is already cancelled: the command
// tree parses everything, and nothing long-running starts.
func canaryEnv(t *testing.T) (context.Context, string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("ROTOR_CONFIG", filepath.Join(dir, "absent.yaml"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, dir
}

// requireNoCanary fails when out holds the canary or any 12 characters of
// its secret part.
func requireNoCanary(t *testing.T, args []string, out string, canary token.Token) {
	t.Helper()
	secret := canary.Reveal()[4:]
	for i := 0; i+12 <= len(secret); i += 6 {
		if strings.Contains(out, secret[i:i+12]) {
			t.Fatalf("rotor %q printed the token:\n%s", redactArgs(args), token.RedactText(out))
		}
	}
}

func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = token.RedactText(a)
	}
	return out
}

// Attack 7: a token typed where an argument goes was printed back in full
// (unknown command, no such credential, ParseBool, history, scan). Every
// position of every command is refused with the hint and exit 2, and
// neither stream holds the token.
func TestMain_tokenArgumentRefused(t *testing.T) {
	ctx, _ := canaryEnv(t)
	for _, kind := range []token.Kind{token.KindClassicPAT, token.KindFineGrained} {
		canary := token.Generate(kind)
		positions := tokenPositions(canary.Reveal())
		if len(positions) < 100 {
			t.Fatalf("only %d positions: the walk missed the command tree", len(positions))
		}
		for _, args := range positions {
			var out, errb bytes.Buffer
			code := Main(ctx, args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
			requireNoCanary(t, args, out.String()+errb.String(), canary)
			if code != ExitUsage {
				t.Errorf("rotor %q: exit %d, want %d", redactArgs(args), code, ExitUsage)
			}
			if !strings.Contains(errb.String(), errTokenArgument) || !strings.Contains(errb.String(), canary.Fingerprint()) {
				t.Errorf("rotor %q: stderr %q lacks the hint and the fingerprint", redactArgs(args), errb.String())
			}
			if out.Len() != 0 {
				t.Errorf("rotor %q wrote to stdout: %q", redactArgs(args), out.String())
			}
		}
	}
}

// The layer below the refusal: were a token to reach the command tree
// anyway, cobra's and pflag's own messages (unknown command, unknown flag,
// ParseBool, help topic) and rotor's errors (no such credential, no such
// file) are redacted to the fingerprint.
func TestExecute_redactsEchoedArguments(t *testing.T) {
	ctx, _ := canaryEnv(t)
	canary := token.Generate(token.KindClassicPAT)
	redactedSomewhere := 0
	for _, args := range tokenPositions(canary.Reveal()) {
		if len(args) > 0 && (args[0] == "demo" || args[0] == "emulator") {
			continue // they need no config and would start servers; their flags are covered by Main above
		}
		var out, errb bytes.Buffer
		execute(ctx, args, IO{In: strings.NewReader(""), Out: &out, Err: &errb}, nil)
		all := out.String() + errb.String()
		requireNoCanary(t, args, all, canary)
		if strings.Contains(all, canary.Fingerprint()) {
			redactedSomewhere++
		}
	}
	if redactedSomewhere < 10 {
		t.Errorf("only %d outputs named the token by fingerprint: the echoes this test is about did not happen", redactedSomewhere)
	}
}
