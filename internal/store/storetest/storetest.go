// Package storetest is the contract suite every store backend runs: the same behaviour, checked the same way, whatever the database.
package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// RawDB is implemented by stores whose database the tamper tests may reach
// with raw SQL (*store.Store). Stores without it skip those tests.
type RawDB interface{ DB() *sql.DB }

// Store is all a backend offers: the engine's rotation.Store, the read
// side (status.Reader), the lookups of rotor scan, and Close.
type Store interface {
	rotation.Store
	Credential(ctx context.Context, name string) (rotation.CredentialRecord, error)
	VersionByFingerprint(ctx context.Context, fingerprint string) (rotation.Version, error)
	Run(ctx context.Context, id int64) (rotation.Run, error)
	Audit(ctx context.Context, after int64, limit int) ([]audit.Record, audit.Head, error)
	Close() error
}

// Run checks the store contract. open must return a new, empty
// store each time it is called and close it when t ends.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) Store)
	}{
		{"Credentials", testCredentials},
		{"Versions", testVersions},
		{"UpdateVersion", testUpdateVersion},
		{"VersionByFingerprint", testVersionByFingerprint},
		{"Runs", testRuns},
		{"OpenRun", testOpenRun},
		{"PutBindings", testPutBindings},
		{"TxRollback", testTxRollback},
		{"Leases", testLeases},
		{"LeaseExpiry", testLeaseExpiry},
		{"Audit", testAudit},
		{"AuditTamper", testAuditTamper},
		{"ConcurrentAudit", testConcurrentAudit},
		{"ConcurrentVersions", testConcurrentVersions},
		{"ConcurrentLeases", testConcurrentLeases},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// base has nanoseconds on purpose: stores keep microseconds.
var base = time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

// us is t as a store reads it back.
func us(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func tx(t *testing.T, s Store, fn func(rotation.Tx) error) {
	t.Helper()
	if err := s.Tx(context.Background(), fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

func version(cred string, n int) rotation.Version {
	tok := token.Generate(token.KindClassicPAT)
	return rotation.Version{
		Credential:  cred,
		Fingerprint: tok.Fingerprint(),
		Kind:        token.KindClassicPAT,
		Sealed:      []byte(fmt.Sprintf("sealed-%s-%d\x00\xff", cred, n)),
		State:       rotation.VersionPending,
		ByRotor:     n%2 == 0,
		Identity:    "octocat",
		CreatedAt:   at(time.Duration(n) * time.Minute),
		ExpiresAt:   at(30 * 24 * time.Hour),
	}
}

func testCredentials(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Credential(ctx, "a"); !errors.Is(err, rotation.ErrNotFound) {
		t.Fatalf("Credential(unknown) = %v, want ErrNotFound", err)
	}
	tx(t, s, func(tx rotation.Tx) error {
		if err := tx.PutCredential(rotation.CredentialRecord{Name: "b", Application: "app-b", CreatedAt: at(0)}); err != nil {
			return err
		}
		return tx.PutCredential(rotation.CredentialRecord{Name: "a", Application: "app-a", CreatedAt: at(time.Hour)})
	})
	// Updating keeps the creation time and changes the application.
	tx(t, s, func(tx rotation.Tx) error {
		return tx.PutCredential(rotation.CredentialRecord{Name: "b", Application: "app-b2", CreatedAt: at(2 * time.Hour)})
	})
	got, err := s.Credential(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	want := rotation.CredentialRecord{Name: "b", Application: "app-b2", CreatedAt: us(at(0))}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Credential(b) (-want +got):\n%s", d)
	}
	all, err := s.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []rotation.CredentialRecord{
		{Name: "a", Application: "app-a", CreatedAt: us(at(time.Hour))},
		want,
	}
	if d := cmp.Diff(wantAll, all); d != "" {
		t.Errorf("Credentials (-want +got):\n%s", d)
	}
}

func testVersions(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	var added []rotation.Version
	tx(t, s, func(tx rotation.Tx) error {
		for i, cred := range []string{"a", "a", "b", "a"} {
			v := version(cred, i)
			v.Seq = 99 // ignored: the store assigns
			got, err := tx.AddVersion(v)
			if err != nil {
				return err
			}
			added = append(added, got)
		}
		return nil
	})
	if got := []int64{added[0].Seq, added[1].Seq, added[2].Seq, added[3].Seq}; !cmp.Equal(got, []int64{1, 2, 1, 3}) {
		t.Errorf("assigned seqs = %v, want [1 2 1 3]", got)
	}
	// What AddVersion returned is what reads back, times in microseconds.
	want := version("a", 0)
	want.Seq, want.Sealed, want.CreatedAt, want.ExpiresAt = 1, added[0].Sealed, us(want.CreatedAt), us(want.ExpiresAt)
	want.Fingerprint = added[0].Fingerprint
	if d := cmp.Diff(want, added[0]); d != "" {
		t.Errorf("AddVersion returned (-want +got):\n%s", d)
	}
	vs, err := s.Versions(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]rotation.Version{added[3], added[1], added[0]}, vs); d != "" {
		t.Errorf("Versions(a), newest first (-want +got):\n%s", d)
	}
	// A version adds its credential's record if it had none.
	if _, err := s.Credential(ctx, "b"); err != nil {
		t.Errorf("Credential(b) after AddVersion: %v", err)
	}
	if vs, err := s.Versions(ctx, "none"); err != nil || len(vs) != 0 {
		t.Errorf("Versions(none) = %v, %v; want nothing", vs, err)
	}
}

func testUpdateVersion(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	var v rotation.Version
	tx(t, s, func(tx rotation.Tx) error {
		var err error
		v, err = tx.AddVersion(version("a", 1))
		return err
	})
	upd := v
	upd.State = rotation.VersionRetired
	upd.Identity = "hubot"
	upd.ExpiresAt = at(48 * time.Hour)
	upd.RetireAfter = at(time.Hour)
	upd.RetiredAt = at(2 * time.Hour)
	upd.Note = "delete it by hand at https://github.com/settings/tokens"
	// Fields that never change, changed here to prove they are not written.
	upd.Fingerprint, upd.Sealed, upd.ByRotor, upd.Kind = "sha256:000000000000", []byte("other"), !v.ByRotor, token.KindOAuth
	tx(t, s, func(tx rotation.Tx) error { return tx.UpdateVersion(upd) })

	want := v
	want.State, want.Identity, want.Note = upd.State, upd.Identity, upd.Note
	want.ExpiresAt, want.RetireAfter, want.RetiredAt = us(upd.ExpiresAt), us(upd.RetireAfter), us(upd.RetiredAt)
	vs, err := s.Versions(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]rotation.Version{want}, vs); d != "" {
		t.Errorf("after UpdateVersion (-want +got):\n%s", d)
	}

	for _, missing := range []rotation.Version{{Credential: "a", Seq: 2}, {Credential: "b", Seq: 1}} {
		err := s.Tx(ctx, func(tx rotation.Tx) error { return tx.UpdateVersion(missing) })
		if !errors.Is(err, rotation.ErrNotFound) {
			t.Errorf("UpdateVersion(%s/%d) = %v, want ErrNotFound", missing.Credential, missing.Seq, err)
		}
	}
}

func testVersionByFingerprint(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	var a, b rotation.Version
	tx(t, s, func(tx rotation.Tx) error {
		var err error
		if a, err = tx.AddVersion(version("a", 1)); err != nil {
			return err
		}
		b, err = tx.AddVersion(version("b", 2))
		return err
	})
	for _, want := range []rotation.Version{a, b} {
		got, err := s.VersionByFingerprint(ctx, want.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("VersionByFingerprint(%s) (-want +got):\n%s", want.Fingerprint, d)
		}
	}
	if _, err := s.VersionByFingerprint(ctx, "sha256:ffffffffffff"); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("VersionByFingerprint(unknown) = %v, want ErrNotFound", err)
	}
}

func newRun(cred string, n int) rotation.Run {
	return rotation.Run{
		Credential: cred,
		Trigger:    "schedule",
		Step:       rotation.StepStarted,
		Status:     rotation.RunRunning,
		PrevSeq:    int64(n),
		StartedAt:  at(time.Duration(n) * time.Hour),
		UpdatedAt:  at(time.Duration(n) * time.Hour),
	}
}

func testRuns(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	var runs []rotation.Run
	tx(t, s, func(tx rotation.Tx) error {
		for i, cred := range []string{"a", "b", "a", "a"} {
			r, err := tx.CreateRun(newRun(cred, i))
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
		return nil
	})
	for i := 1; i < len(runs); i++ {
		if runs[i].ID <= runs[i-1].ID {
			t.Fatalf("run IDs not increasing: %d then %d", runs[i-1].ID, runs[i].ID)
		}
	}
	got, err := s.Run(ctx, runs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := newRun("b", 1)
	want.ID, want.StartedAt, want.UpdatedAt = runs[1].ID, us(want.StartedAt), us(want.UpdatedAt)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Run (-want +got):\n%s", d)
	}
	if d := cmp.Diff(runs[1], got); d != "" {
		t.Errorf("CreateRun returned something else than Run reads (-returned +read):\n%s", d)
	}

	upd := runs[0]
	upd.Step, upd.Status = rotation.StepRolledBack, rotation.RunRolledBack
	upd.NewSeq, upd.PrevSeq = 7, 6
	upd.Reason, upd.Error, upd.Failing = "VerifyFailed", "pipeline X: Could not access the GitHub repository", true
	upd.UpdatedAt, upd.FinishedAt = at(10*time.Hour), at(11*time.Hour)
	upd.Trigger, upd.StartedAt = "changed", at(99*time.Hour) // never written
	tx(t, s, func(tx rotation.Tx) error { return tx.UpdateRun(upd) })
	got, err = s.Run(ctx, upd.ID)
	if err != nil {
		t.Fatal(err)
	}
	want = upd
	want.Trigger, want.StartedAt = runs[0].Trigger, runs[0].StartedAt
	want.UpdatedAt, want.FinishedAt = us(upd.UpdatedAt), us(upd.FinishedAt)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after UpdateRun (-want +got):\n%s", d)
	}

	all, err := s.Runs(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int64{runs[3].ID, runs[2].ID, runs[0].ID}, ids(all)); d != "" {
		t.Errorf("Runs(a, 0) newest first (-want +got):\n%s", d)
	}
	two, err := s.Runs(ctx, "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int64{runs[3].ID, runs[2].ID}, ids(two)); d != "" {
		t.Errorf("Runs(a, 2) (-want +got):\n%s", d)
	}

	if _, err := s.Run(ctx, runs[3].ID+100); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("Run(unknown) = %v, want ErrNotFound", err)
	}
	err = s.Tx(ctx, func(tx rotation.Tx) error {
		return tx.UpdateRun(rotation.Run{ID: runs[3].ID + 100, Step: rotation.StepMinted})
	})
	if !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("UpdateRun(unknown) = %v, want ErrNotFound", err)
	}
}

func ids(runs []rotation.Run) []int64 {
	var out []int64
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func testOpenRun(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.OpenRun(ctx, "a"); !errors.Is(err, rotation.ErrNotFound) {
		t.Fatalf("OpenRun with no runs = %v, want ErrNotFound", err)
	}
	var done, running rotation.Run
	tx(t, s, func(tx rotation.Tx) error {
		var err error
		if done, err = tx.CreateRun(newRun("a", 1)); err != nil {
			return err
		}
		done.Status, done.Step, done.FinishedAt = rotation.RunSucceeded, rotation.StepPromoted, at(2*time.Hour)
		if err := tx.UpdateRun(done); err != nil {
			return err
		}
		running, err = tx.CreateRun(newRun("a", 2))
		return err
	})
	got, err := s.OpenRun(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != running.ID {
		t.Errorf("OpenRun = run %d, want %d", got.ID, running.ID)
	}
	if _, err := s.OpenRun(ctx, "b"); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("OpenRun(other credential) = %v, want ErrNotFound", err)
	}
	running.Status, running.FinishedAt = rotation.RunFailed, at(3*time.Hour)
	tx(t, s, func(tx rotation.Tx) error { return tx.UpdateRun(running) })
	if _, err := s.OpenRun(ctx, "a"); !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("OpenRun after the run failed = %v, want ErrNotFound", err)
	}
}

func binding(id string) rotation.Binding {
	return rotation.Binding{
		ID:           id,
		Target:       "codepipeline",
		Resource:     "arn:aws:codepipeline:us-east-1:123456789012:" + id,
		Repositories: []string{"octo/repo"},
		Scopes:       []string{"repo"},
		Attrs:        map[string]string{"action": "Source"},
		Slot:         1,
	}
}

func testPutBindings(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	var run, other rotation.Run
	tx(t, s, func(tx rotation.Tx) error {
		var err error
		if run, err = tx.CreateRun(newRun("a", 1)); err != nil {
			return err
		}
		other, err = tx.CreateRun(newRun("a", 2))
		return err
	})
	// IDs deliberately not in sorted order: the store keeps insertion order.
	first := []rotation.BindingState{
		{Binding: binding("zeta"), Status: rotation.BindingPending, UpdatedAt: at(0)},
		{Binding: binding("alpha"), Status: rotation.BindingPending, UpdatedAt: at(0)},
		{Binding: binding("mu"), Status: rotation.BindingPending, UpdatedAt: at(0)},
	}
	tx(t, s, func(tx rotation.Tx) error { return tx.PutBindings(run.ID, first) })
	tx(t, s, func(tx rotation.Tx) error { return tx.PutBindings(other.ID, first[:1]) })
	second := []rotation.BindingState{
		{Binding: binding("beta"), Status: rotation.BindingWaiting, Note: "pipeline beta is running execution e-1", UpdatedAt: at(time.Minute)},
		{Binding: binding("alpha"), Status: rotation.BindingFailed, Error: "throttled", UpdatedAt: at(time.Minute)},
		{Binding: binding("mu"), Status: rotation.BindingApplied, Interrupted: []string{"e-2", "e-3"}, UpdatedAt: at(0)},
	}
	tx(t, s, func(tx rotation.Tx) error { return tx.PutBindings(run.ID, second) })

	got, err := s.Bindings(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []rotation.BindingState{
		{Binding: binding("zeta"), Status: rotation.BindingPending, UpdatedAt: us(at(0))},
		{Binding: binding("alpha"), Status: rotation.BindingFailed, Error: "throttled", UpdatedAt: us(at(time.Minute))},
		{Binding: binding("mu"), Status: rotation.BindingApplied, Interrupted: []string{"e-2", "e-3"}, UpdatedAt: us(at(0))},
		{Binding: binding("beta"), Status: rotation.BindingWaiting, Note: "pipeline beta is running execution e-1", UpdatedAt: us(at(time.Minute))},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Bindings (-want +got):\n%s", d)
	}
	if got, err := s.Bindings(ctx, other.ID); err != nil || len(got) != 1 || got[0].Status != rotation.BindingPending {
		t.Errorf("Bindings(other run) = %v, %v: another run's upsert leaked in", got, err)
	}
	err = s.Tx(ctx, func(tx rotation.Tx) error { return tx.PutBindings(other.ID+100, first) })
	if !errors.Is(err, rotation.ErrNotFound) {
		t.Errorf("PutBindings(unknown run) = %v, want ErrNotFound", err)
	}
}

func testTxRollback(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(tx rotation.Tx) error {
		if err := tx.PutCredential(rotation.CredentialRecord{Name: "a"}); err != nil {
			return err
		}
		if _, err := tx.AddVersion(version("a", 1)); err != nil {
			return err
		}
		r, err := tx.CreateRun(newRun("a", 1))
		if err != nil {
			return err
		}
		if err := tx.PutBindings(r.ID, []rotation.BindingState{{Binding: binding("x"), Status: rotation.BindingPending}}); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(audit.Record{Time: at(0), Event: "run.started"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx = %v, want fn's error", err)
	}
	if cs, err := s.Credentials(ctx); err != nil || len(cs) != 0 {
		t.Errorf("Credentials after rollback = %v, %v", cs, err)
	}
	if vs, err := s.Versions(ctx, "a"); err != nil || len(vs) != 0 {
		t.Errorf("Versions after rollback = %v, %v", vs, err)
	}
	if rs, err := s.Runs(ctx, "a", 0); err != nil || len(rs) != 0 {
		t.Errorf("Runs after rollback = %v, %v", rs, err)
	}
	recs, head, err := s.Audit(ctx, 0, 0)
	if err != nil || len(recs) != 0 || head.Seq != 0 {
		t.Errorf("Audit after rollback = %v, %v, %v", recs, head, err)
	}
	// The chain goes on from where it was.
	tx(t, s, func(tx rotation.Tx) error {
		r, err := tx.AppendAudit(audit.Record{Time: at(0), Event: "next"})
		if err == nil && r.Seq != 1 {
			err = fmt.Errorf("first record after rollback has seq %d", r.Seq)
		}
		return err
	})
}

func testLeases(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	steps := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"A acquires", func() error { return s.AcquireLease(ctx, "c", "A", time.Hour) }, nil},
		{"B is refused", func() error { return s.AcquireLease(ctx, "c", "B", time.Hour) }, rotation.ErrLeaseHeld},
		{"A renews", func() error { return s.AcquireLease(ctx, "c", "A", 2*time.Hour) }, nil},
		{"B takes another credential", func() error { return s.AcquireLease(ctx, "d", "B", time.Hour) }, nil},
		{"B releasing A's lease is a no-op", func() error { return s.ReleaseLease(ctx, "c", "B") }, nil},
		{"B is still refused", func() error { return s.AcquireLease(ctx, "c", "B", time.Hour) }, rotation.ErrLeaseHeld},
		{"A releases", func() error { return s.ReleaseLease(ctx, "c", "A") }, nil},
		{"A releases again", func() error { return s.ReleaseLease(ctx, "c", "A") }, nil},
		{"B acquires", func() error { return s.AcquireLease(ctx, "c", "B", time.Hour) }, nil},
		{"A is refused", func() error { return s.AcquireLease(ctx, "c", "A", time.Hour) }, rotation.ErrLeaseHeld},
	}
	for _, st := range steps {
		err := st.do()
		if st.wantErr == nil && err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.wantErr != nil && !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
	}
	if err := s.AcquireLease(ctx, "c", "B", 0); err == nil || errors.Is(err, rotation.ErrLeaseHeld) {
		t.Errorf("AcquireLease(ttl 0) = %v, want a usage error", err)
	}
}

// testLeaseExpiry lets a short lease run out on whatever clock the store
// judges expiry by, so it works with the database's clock too: it waits for
// the takeover rather than for a duration.
func testLeaseExpiry(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	if err := s.AcquireLease(ctx, "c", "A", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.AcquireLease(ctx, "c", "B", time.Hour)
		if err == nil {
			break
		}
		if !errors.Is(err, rotation.ErrLeaseHeld) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("B never took over A's expired 1ms lease")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.AcquireLease(ctx, "c", "A", time.Hour); !errors.Is(err, rotation.ErrLeaseHeld) {
		t.Errorf("A after B took over = %v, want ErrLeaseHeld", err)
	}
}

func appendN(t *testing.T, s Store, n int) []audit.Record {
	t.Helper()
	var out []audit.Record
	for i := range n {
		tx(t, s, func(tx rotation.Tx) error {
			r, err := tx.AppendAudit(audit.Record{
				// Another zone and nanoseconds: the hash must survive both.
				Time:       at(time.Duration(i) * time.Second).In(time.FixedZone("CET", 3600)),
				Credential: "a",
				RunID:      int64(i % 3),
				Event:      fmt.Sprintf("step-%d", i),
				Actor:      "host/1234",
				Detail:     fmt.Sprintf(`{"n":%d,"text":"ünïcödé \"quoted\""}`, i),
			})
			if err == nil {
				out = append(out, r)
			}
			return err
		})
	}
	return out
}

func testAudit(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	if err := audit.VerifyChain(ctx, s); err != nil {
		t.Fatalf("VerifyAudit(empty) = %v", err)
	}
	appended := appendN(t, s, 5)
	if appended[0].PrevHash != audit.Genesis || appended[4].Seq != 5 {
		t.Fatalf("chain starts at %q, ends at seq %d", appended[0].PrevHash, appended[4].Seq)
	}
	recs, head, err := s.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(appended, recs); d != "" {
		t.Errorf("Audit reads back other records than were appended (-appended +read):\n%s", d)
	}
	if d := cmp.Diff(audit.Head{Seq: 5, Hash: appended[4].Hash}, head); d != "" {
		t.Errorf("head (-want +got):\n%s", d)
	}
	page, _, err := s.Audit(ctx, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(appended[2:4], page); d != "" {
		t.Errorf("Audit(after 2, limit 2) (-want +got):\n%s", d)
	}
	if err := audit.Verify(recs, head); err != nil {
		t.Errorf("audit.Verify: %v", err)
	}
	if err := audit.VerifyChain(ctx, s); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
	// A zero time is filled in.
	tx(t, s, func(tx rotation.Tx) error {
		r, err := tx.AppendAudit(audit.Record{Event: "no time"})
		if err == nil && r.Time.IsZero() {
			err = errors.New("AppendAudit left Time zero")
		}
		return err
	})
}

// testAuditTamper edits the chain behind the store's back, with plain SQL
// that every backend accepts, and expects VerifyAudit to notice each time.
func testAuditTamper(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		sql  []string
	}{
		{"edit detail", []string{`UPDATE audit SET detail = '{"n":99}' WHERE seq = 3`}},
		{"edit time", []string{`UPDATE audit SET time = time + 1 WHERE seq = 2`}},
		{"delete middle", []string{`DELETE FROM audit WHERE seq = 3`}},
		{"reorder", []string{
			`UPDATE audit SET seq = -1 WHERE seq = 2`,
			`UPDATE audit SET seq = 2 WHERE seq = 3`,
			`UPDATE audit SET seq = 3 WHERE seq = -1`,
		}},
		{"truncate tail", []string{`DELETE FROM audit WHERE seq > 3`}},
		{"delete all", []string{`DELETE FROM audit`}},
		{"delete head row", []string{`DELETE FROM audit_head`}},
		{"append behind the head", []string{
			`INSERT INTO audit (seq, time, credential, run_id, event, actor, detail, prev_hash, hash)
			 SELECT seq + 1, time, credential, run_id, 'forged', actor, detail, hash, hash FROM audit WHERE seq = 5`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			raw, ok := s.(RawDB)
			if !ok {
				t.Skipf("%T gives no raw SQL access", s)
			}
			ctx := context.Background()
			appendN(t, s, 5)
			if err := audit.VerifyChain(ctx, s); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			for _, q := range tt.sql {
				if _, err := raw.DB().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			err := audit.VerifyChain(ctx, s)
			if !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("VerifyAudit after %s = %v, want audit.ErrBroken", tt.name, err)
			}
			t.Logf("detected: %v", err)
		})
	}
}

func testConcurrentAudit(t *testing.T, open func(t *testing.T) Store) {
	const writers, each = 8, 50
	s := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := s.Tx(ctx, func(tx rotation.Tx) error {
					_, err := tx.AppendAudit(audit.Record{Event: "append", Actor: fmt.Sprintf("writer-%d", w), Detail: fmt.Sprintf(`{"i":%d}`, i)})
					return err
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs, head, err := s.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != writers*each || head.Seq != writers*each {
		t.Fatalf("%d records, head %d; want %d", len(recs), head.Seq, writers*each)
	}
	if err := audit.VerifyChain(ctx, s); err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
}

func testConcurrentVersions(t *testing.T, open func(t *testing.T) Store) {
	const writers, each = 8, 5
	s := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := s.Tx(ctx, func(tx rotation.Tx) error {
					_, err := tx.AddVersion(version("a", w*each+i))
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	vs, err := s.Versions(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if want := int64(writers*each - i); v.Seq != want {
			t.Fatalf("version %d has seq %d, want %d: seqs must be 1..%d without gaps", i, v.Seq, want, writers*each)
		}
	}
	if len(vs) != writers*each {
		t.Fatalf("%d versions, want %d", len(vs), writers*each)
	}
}

func testConcurrentLeases(t *testing.T, open func(t *testing.T) Store) {
	const takers = 8
	s := open(t)
	ctx := context.Background()
	for round := range 3 {
		cred := fmt.Sprintf("c%d", round)
		var wg sync.WaitGroup
		results := make(chan error, takers)
		start := make(chan struct{})
		for i := range takers {
			wg.Go(func() {
				<-start
				results <- s.AcquireLease(ctx, cred, fmt.Sprintf("holder-%d", i), time.Hour)
			})
		}
		close(start)
		wg.Wait()
		close(results)
		won := 0
		for err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, rotation.ErrLeaseHeld):
				t.Fatalf("AcquireLease: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d takers won the lease, want exactly 1", round, won)
		}
	}
}
