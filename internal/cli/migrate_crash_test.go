package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/rotor-ci/rotor/internal/emulator"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/rotorbin"
)

// TestMigrateCrashResumes kills a torture build of rotor (-tags
// rotor_crashpoints) right after each persisted step of a migration, runs
// the same command again, and checks the end state is the one an
// uninterrupted migration reaches: every good pipeline on the connection
// with its declaration otherwise unchanged, the pipeline whose role cannot
// use the connection back on version 1, no execution stopped, the token
// revoked only when everything moved. ROTOR_MIGRATE_CRASH=all runs every
// crash point; by default one of each kind.
func TestMigrateCrashResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds rotor with crash points and runs it a dozen times (-short)")
	}
	bin, err := rotorbin.Build(t.Context(), t.TempDir(), "-tags", "rotor_crashpoints")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		at       string
		withFail bool // a pipeline whose role lacks UseConnection
	}{
		{"migrate.started", false}, {"migrate.applying:1", false}, {"migrate.applying:2", false},
		{"migrate.applied:1", false}, {"migrate.verified:1", false}, {"migrate.verified:2", false},
		{"migrate.migrated", false}, {"retired", false},
		{"migrate.failed", true}, {"migrate.rolled_back", true}, {"migrate.moved", true},
	}
	// Every step with ROTOR_MIGRATE_CRASH=all (about 90 s on 2 cores); one
	// of each kind (the forward path, the way back, the end) otherwise.
	sample := map[string]bool{"migrate.applying:1": true, "migrate.failed": true, "migrate.migrated": true}
	for _, c := range cases {
		if os.Getenv("ROTOR_MIGRATE_CRASH") != "all" && !sample[c.at] {
			continue
		}
		t.Run(strings.ReplaceAll(c.at, ":", "#"), func(t *testing.T) {
			e := newMigrateE2E(t, "Second")
			names := []string{emulator.SeedPipeline, "Second"}
			if c.withFail {
				client, decl := e.pipelines()
				decl.Name, decl.RoleArn = aws.String("NoConn"), aws.String("arn:aws:iam::123456789012:role/no-connections")
				if _, err := client.CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
					t.Fatal(err)
				}
			}
			conn := e.connection(true)
			before := e.declarations(names...)
			run := func(crash string) (int, string) {
				cmd := exec.Command(bin, "--config", e.config, "migrate", "pipeline-token", "--connection", conn)
				cmd.Env = append(os.Environ(), "ROTOR_LEASE_TTL=1s")
				if crash != "" {
					cmd.Env = append(cmd.Env, "ROTOR_CRASH_AT="+crash)
				}
				out, err := cmd.CombinedOutput()
				e.outputs = append(e.outputs, string(out))
				var ee *exec.ExitError
				switch {
				case err == nil:
					return 0, string(out)
				case errors.As(err, &ee):
					return ee.ExitCode(), string(out)
				}
				t.Fatalf("run rotor: %v", err)
				return 0, ""
			}
			if code, out := run(c.at); code != -1 || !strings.Contains(out, "crash point") {
				t.Fatalf("crash at %s: exit %d (want killed)\n%s", c.at, code, out)
			}
			want := 0
			if c.withFail {
				want = ExitRolledBack
			}
			// The killed process's lease lapses after ROTOR_LEASE_TTL.
			code, out := run("")
			for i := 0; i < 20 && strings.Contains(out, "holds this credential's lease"); i++ {
				time.Sleep(250 * time.Millisecond)
				code, out = run("")
			}
			// After migrate.moved the run had ended (rolled back): the same
			// command is a new try, which rolls NoConn back again (exit 3).
			if code != want {
				t.Fatalf("resume after %s: exit %d, want %d\n%s", c.at, code, want, out)
			}
			after := e.declarations(names...)
			for _, n := range names {
				if !isV2(after[n].Stages[0].Actions[0], conn) || !sameButSource(before[n], after[n]) {
					t.Errorf("%s after the resume: %+v", n, after[n].Stages[0].Actions[0].ActionTypeId)
				}
			}
			for _, x := range e.sb.CodePipeline.Executions() {
				if x.StoppedBy == cpemu.StoppedByUpdate {
					t.Errorf("execution %s of %s stopped by an update", x.ID, x.Pipeline)
				}
			}
			wantToken := ghemu.StateRevoked
			if c.withFail {
				wantToken = ghemu.StateActive
				if tok, _ := e.sb.CodePipeline.StoredToken("NoConn", "Source"); tok.Fingerprint() != e.tokens[0].Fingerprint() {
					t.Errorf("NoConn holds %s, want the token back", tok.Fingerprint())
				}
			}
			if st := e.state(e.tokens[0].Fingerprint()); st != wantToken {
				t.Errorf("token %q, want %q", st, wantToken)
			}
			if code, out := e.rotor("", "audit", "verify"); code != 0 {
				t.Errorf("audit verify: %d\n%s", code, out)
			}
			e.canary()
		})
	}
}
