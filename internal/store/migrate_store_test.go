package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/store/pgtest"
	"github.com/rotor-ci/rotor/internal/token"
)

// populate writes what a few rotations leave behind.
func populate(t *testing.T, s *store.Store) {
	t.Helper()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)
	for c, cred := range []string{"pipeline-a", "pipeline-b"} {
		mustTx(t, s, func(tx rotation.Tx) error {
			return tx.PutCredential(rotation.CredentialRecord{Name: cred, Application: "app-" + cred, CreatedAt: t0})
		})
		for i := range 3 {
			tok := token.Generate(token.KindFineGrained)
			now := t0.Add(time.Duration(c*10+i) * time.Hour)
			mustTx(t, s, func(tx rotation.Tx) error {
				run, err := tx.CreateRun(rotation.Run{Credential: cred, Trigger: "schedule", StartedAt: now, PrevSeq: int64(i)})
				if err != nil {
					return err
				}
				v, err := tx.AddVersion(rotation.Version{Credential: cred, Fingerprint: tok.Fingerprint(), Kind: token.KindFineGrained,
					Sealed: []byte("age-encrypted " + tok.Fingerprint()), ByRotor: i%2 == 1, CreatedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour)})
				if err != nil {
					return err
				}
				states := []rotation.BindingState{
					{Binding: rotation.Binding{ID: "z-" + cred, Target: "codepipeline", Resource: cred}, Status: rotation.BindingVerified, UpdatedAt: now},
					{Binding: rotation.Binding{ID: "a-" + cred, Target: "file", Resource: "/etc/token", Slot: 1}, Status: rotation.BindingVerified, UpdatedAt: now},
				}
				if err := tx.PutBindings(run.ID, states); err != nil {
					return err
				}
				run.NewSeq, run.Step, run.Status, run.FinishedAt = v.Seq, rotation.StepPromoted, rotation.RunSucceeded, now.Add(time.Minute)
				if err := tx.UpdateRun(run); err != nil {
					return err
				}
				v.State = rotation.VersionCurrent
				if err := tx.UpdateVersion(v); err != nil {
					return err
				}
				for _, ev := range []string{"run.started", "minted", "applied", "promoted"} {
					if _, err := tx.AppendAudit(audit.Record{Time: now, Credential: cred, RunID: run.ID, Event: ev, Actor: "host/1",
						Detail: fmt.Sprintf(`{"fingerprint":%q}`, tok.Fingerprint())}); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
}

type snapshot struct {
	Credentials []rotation.CredentialRecord
	Versions    map[string][]rotation.Version
	Runs        map[string][]rotation.Run
	Bindings    map[int64][]rotation.BindingState
	Audit       []audit.Record
	Head        audit.Head
}

func snap(t *testing.T, s *store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	out := snapshot{Versions: map[string][]rotation.Version{}, Runs: map[string][]rotation.Run{}, Bindings: map[int64][]rotation.BindingState{}}
	var err error
	if out.Credentials, err = s.Credentials(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range out.Credentials {
		if out.Versions[c.Name], err = s.Versions(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
		if out.Runs[c.Name], err = s.Runs(ctx, c.Name, 0); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Runs[c.Name] {
			if out.Bindings[r.ID], err = s.Bindings(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if out.Audit, out.Head, err = s.Audit(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrate(t *testing.T) {
	targets := []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite to sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "to.db") }},
		{"sqlite to postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
	}
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			from := openT(t, "sqlite:"+filepath.Join(t.TempDir(), "from.db"))
			populate(t, from)
			to := openT(t, tt.dsn(t))
			if err := store.Migrate(ctx, from, to); err != nil {
				t.Fatal(err)
			}
			want, got := snap(t, from), snap(t, to)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("target differs from source (-source +target):\n%s", d)
			}
			if err := audit.VerifyChain(ctx, to); err != nil {
				t.Fatalf("VerifyAudit(target): %v", err)
			}

			// The target carries on: new runs get new IDs, the chain grows.
			var maxID int64
			for _, rs := range want.Runs {
				for _, r := range rs {
					maxID = max(maxID, r.ID)
				}
			}
			mustTx(t, to, func(tx rotation.Tx) error {
				r, err := tx.CreateRun(rotation.Run{Credential: "pipeline-a", Trigger: "manual"})
				if err != nil {
					return err
				}
				if r.ID <= maxID {
					return fmt.Errorf("new run got id %d, not above the migrated %d", r.ID, maxID)
				}
				v, err := tx.AddVersion(rotation.Version{Credential: "pipeline-a", Fingerprint: "sha256:0123456789ab"})
				if err == nil && v.Seq != 4 {
					err = fmt.Errorf("new version got seq %d, want 4", v.Seq)
				}
				if err != nil {
					return err
				}
				rec, err := tx.AppendAudit(audit.Record{Event: "after migration"})
				if err == nil && rec.PrevHash != want.Head.Hash {
					err = fmt.Errorf("first new record links to %s, want the migrated head", rec.PrevHash)
				}
				return err
			})
			if err := audit.VerifyChain(ctx, to); err != nil {
				t.Fatalf("VerifyAudit(target) after more writes: %v", err)
			}

			// A second migration into the now non-empty target is refused
			// and changes nothing.
			before := snap(t, to)
			if err := store.Migrate(ctx, from, to); err == nil || !strings.Contains(err.Error(), "not empty") {
				t.Fatalf("Migrate into a non-empty store = %v, want a refusal", err)
			}
			if d := cmp.Diff(before, snap(t, to)); d != "" {
				t.Errorf("refused migration changed the target:\n%s", d)
			}
		})
	}
}

func TestMigrate_refuses(t *testing.T) {
	ctx := context.Background()
	t.Run("tampered source", func(t *testing.T) {
		from := openOpts(t, "sqlite:"+filepath.Join(t.TempDir(), "from.db"), store.Options{})
		populate(t, from)
		if _, err := from.DB().Exec(`UPDATE audit SET detail = '{}' WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		to := openT(t, "sqlite:"+filepath.Join(t.TempDir(), "to.db"))
		err := store.Migrate(ctx, from, to)
		if err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("Migrate = %v, want a refusal naming the broken chain", err)
		}
		if got := snap(t, to); len(got.Credentials) != 0 || got.Head.Seq != 0 {
			t.Errorf("target not left empty: %+v", got)
		}
	})
}
