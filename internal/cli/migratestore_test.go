package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/store/pgtest"
	"github.com/rotor-ci/rotor/internal/token"
)

// seedMigrateSource writes two credentials' worth of history into a new
// SQLite store: two finished runs and an unfinished one, versions and a
// chain of audit records.
func seedMigrateSource(t *testing.T) string {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "rotor.db")
	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for i, name := range []string{"app-a", "app-b"} {
		err := s.Tx(context.Background(), func(tx rotation.Tx) error {
			if err := tx.PutCredential(rotation.CredentialRecord{Name: name, CreatedAt: t0}); err != nil {
				return err
			}
			for n := range 2 - i {
				tok := token.Generate(token.KindInstallation)
				v, err := tx.AddVersion(rotation.Version{Credential: name, Fingerprint: tok.Fingerprint(), Kind: token.KindInstallation,
					Sealed: []byte("sealed " + tok.Fingerprint()), State: rotation.VersionCurrent, ByRotor: true, CreatedAt: t0})
				if err != nil {
					return err
				}
				run := rotation.Run{Credential: name, Trigger: "schedule", Step: rotation.StepPromoted, Status: rotation.RunSucceeded, NewSeq: v.Seq, StartedAt: t0}
				if n == 1 {
					run.Step, run.Status = rotation.StepApplied, rotation.RunRunning
				}
				if run, err = tx.CreateRun(run); err != nil {
					return err
				}
				if err := tx.PutBindings(run.ID, []rotation.BindingState{{Binding: rotation.Binding{ID: "cp/" + name, Target: "codepipeline"}, Status: rotation.BindingApplied, UpdatedAt: t0}}); err != nil {
					return err
				}
				for _, ev := range []string{"run.started", "minted", "applied"} {
					if _, err := tx.AppendAudit(audit.Record{Time: t0, Credential: name, RunID: run.ID, Event: ev, Actor: "host/1",
						Detail: fmt.Sprintf(`{"fingerprint":%q}`, tok.Fingerprint())}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

func TestMigrateStoreCmd_toPostgres(t *testing.T) {
	from := seedMigrateSource(t)
	to := pgtest.DSN(t)

	out, errOut, code := runSubcommand(t, newMigrateStoreCmd, &App{Output: "json"}, "--from", from, "--to", to)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got migrateReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got.AuditHead == "" {
		t.Error("no audit head reported")
	}
	got.AuditHead, got.To = "", ""
	want := migrateReport{From: from, Credentials: 2, Versions: 3, Runs: 3, OpenRuns: 1, AuditRecords: 9, AuditOK: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}

	// The target, named in a config, passes `rotor audit verify`.
	dir := t.TempDir()
	if err := seal.Generate(filepath.Join(dir, "rotor.key")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "rotor.yaml")
	body := fmt.Sprintf("store: %q\nkey: file:rotor.key\ncredentials:\n  - name: app-a\n    source: {type: personal-token}\n    targets:\n      - {type: file, path: token}\n", to)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runSubcommand(t, newAuditCmd, &App{ConfigPath: cfg}, "verify")
	if code != ExitOK || !strings.Contains(out, "audit chain ok: 9 records") {
		t.Errorf("audit verify on the target: exit %d\n%s%s", code, out, errOut)
	}

	// A second copy into the same target is refused and changes nothing.
	_, errOut, code = runSubcommand(t, newMigrateStoreCmd, &App{}, "--from", from, "--to", to)
	if code != ExitFailure || !strings.Contains(errOut, "not empty") {
		t.Errorf("second migrate: exit %d, stderr %q; want 1 and 'not empty'", code, errOut)
	}
}

func TestMigrateStoreCmd_toSQLite(t *testing.T) {
	from := seedMigrateSource(t)
	to := "sqlite:" + filepath.Join(t.TempDir(), "copy.db")
	out, errOut, code := runSubcommand(t, newMigrateStoreCmd, &App{}, "--from", from, "--to", to)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"credentials     2", "runs            3", "(1 unfinished", "audit records   9", "chain verified on the target"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestMigrateStoreCmd_usage(t *testing.T) {
	from := seedMigrateSource(t)
	missing := "sqlite:" + filepath.Join(t.TempDir(), "typo.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "both --from and --to are required"},
		{"no target", []string{"--from", from}, "both --from and --to are required"},
		{"same store", []string{"--from", from, "--to", from}, "the same store"},
		{"missing source", []string{"--from", missing, "--to", "sqlite:" + filepath.Join(t.TempDir(), "x.db")}, "no such file"},
		{"unknown kind", []string{"--from", from, "--to", "mysql://db/rotor"}, "unknown kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runSubcommand(t, newMigrateStoreCmd, &App{}, tt.args...)
			if code == ExitOK || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want failure with %q", code, errOut, tt.want)
			}
		})
	}
	if _, err := os.Stat(strings.TrimPrefix(missing, "sqlite:")); err == nil {
		t.Error("a missing source file was created")
	}
}
