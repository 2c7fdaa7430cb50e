package rotation_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

type harness struct {
	t      *testing.T
	w      *world
	store  *store.Store
	sealer *boxSealer
	src    *fakeSource
	tgts   []*fakeTarget
	cred   rotation.Credential
	now    time.Time
	events []rotation.Event
}

func newHarness(t *testing.T, byRotor bool, bindings ...int) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, w: newWorld(), store: st, sealer: &boxSealer{}, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	h.src = &fakeSource{w: h.w, byRotor: byRotor, login: "MyGitHubUserName"}
	var targets []rotation.Target
	for i, n := range bindings {
		ft := &fakeTarget{w: h.w, name: string(rune('a' + i)), n: n}
		h.tgts = append(h.tgts, ft)
		targets = append(targets, ft)
	}
	h.cred = rotation.Credential{Name: "app", Source: h.src, Targets: targets, Grace: 10 * time.Minute}
	h.adopt()
	return h
}

func (h *harness) engine() *rotation.Engine {
	return &rotation.Engine{Store: h.store, Sealer: h.sealer, Now: func() time.Time { return h.now }, Holder: "test", LeaseTTL: time.Minute,
		Observe: func(e rotation.Event) { h.events = append(h.events, e) }}
}

// adopt plays the state before rotor: every binding holds one live token,
// which rotor is told about.
func (h *harness) adopt() {
	h.t.Helper()
	t0 := token.Generate(token.KindClassicPAT)
	h.w.live[t0.Fingerprint()] = true
	for _, ft := range h.tgts {
		for i := range ft.n {
			h.w.holds[ft.id(i)] = t0.Fingerprint()
		}
	}
	// The fakes cannot be read back.
	if _, err := h.engine().Adopt(context.Background(), h.cred, t0, rotation.AdoptOptions{ConfirmUnverifiable: true}); err != nil {
		h.t.Fatalf("adopt: %v", err)
	}
}

func (h *harness) personal(n int) {
	for range n {
		h.src.next = append(h.src.next, token.Generate(token.KindClassicPAT))
	}
}

func (h *harness) versions() map[rotation.VersionState][]rotation.Version {
	vs, err := h.store.Versions(context.Background(), "app")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[rotation.VersionState][]rotation.Version{}
	for _, v := range vs {
		out[v.State] = append(out[v.State], v)
	}
	return out
}

// invariants checks I1, I3 (orphans, every binding on one version), I6 in
// the store's records, and I7.
func (h *harness) invariants(wantOn string) {
	h.t.Helper()
	if len(h.w.violations) > 0 {
		h.t.Fatalf("I1 violated: %v", h.w.violations)
	}
	if o := h.w.orphans(); len(o) > 0 {
		h.t.Fatalf("I3: live minted tokens no binding holds: %v", o)
	}
	for b, fp := range h.w.holding() {
		if fp != wantOn {
			h.t.Fatalf("binding %s holds %s, want %s", b, fp, wantOn)
		}
	}
	recs, head, err := h.store.Audit(context.Background(), 0, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := audit.Verify(recs, head); err != nil {
		h.t.Fatalf("I7: %v", err)
	}
	for _, r := range recs {
		for _, tok := range h.sealer.box {
			if strings.Contains(r.Detail, tok.Reveal()) {
				h.t.Fatalf("I6: audit record %d holds a token value", r.Seq)
			}
		}
	}
	runs, _ := h.store.Runs(context.Background(), "app", 0)
	for _, r := range runs {
		for _, tok := range h.sealer.box {
			if strings.Contains(r.Error, tok.Reveal()) {
				h.t.Fatalf("I6: run %d error holds a token value: %s", r.ID, r.Error)
			}
		}
	}
}

func fp(v []rotation.Version) string {
	if len(v) != 1 {
		return ""
	}
	return v[0].Fingerprint
}

func TestEngine_RotateAndRetire(t *testing.T) {
	for _, byRotor := range []bool{false, true} {
		t.Run(map[bool]string{false: "personal", true: "app"}[byRotor], func(t *testing.T) {
			h := newHarness(t, byRotor, 3, 2)
			h.personal(1)
			old := fp(h.versions()[rotation.VersionCurrent])
			run, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if run.Status != rotation.RunSucceeded || run.Step != rotation.StepPromoted {
				t.Fatalf("run = %+v", run)
			}
			vs := h.versions()
			cur := fp(vs[rotation.VersionCurrent])
			if cur == "" || cur == old || fp(vs[rotation.VersionPrevious]) != old {
				t.Fatalf("versions after rotate: %+v", vs)
			}
			h.invariants(cur)

			// I2: the old token lives through the grace period.
			if got, _ := h.engine().Retire(context.Background(), h.cred); len(got) != 0 || !h.w.live[old] {
				t.Fatalf("retired %d version(s) before grace ended", len(got))
			}
			h.now = h.now.Add(11 * time.Minute)
			got, err := h.engine().Retire(context.Background(), h.cred)
			if err != nil || len(got) != 1 || h.w.live[old] {
				t.Fatalf("Retire after grace = %v, %v; old live = %v", got, err, h.w.live[old])
			}
			if fp(h.versions()[rotation.VersionRetired]) != old {
				t.Fatalf("old version not retired: %+v", h.versions())
			}
			h.invariants(cur)
		})
	}
}

func TestEngine_Failures(t *testing.T) {
	tests := []struct {
		name       string
		byRotor    bool
		setup      func(h *harness)
		wantStatus rotation.RunStatus
		wantReason string
		wantErr    error
		// what becomes of the new version
		wantNew rotation.VersionState
	}{
		{"mint fails", true, func(h *harness) { h.src.mintErr = errors.New("github down") }, rotation.RunFailed, "MintFailed", rotation.ErrRunFailed, ""},
		{"personal token refused at check", false, func(h *harness) { h.src.checkErr = errors.New("missing scope repo") }, rotation.RunFailed, "CheckFailed", rotation.ErrRunFailed, rotation.VersionRejected},
		{"app token refused at check is revoked", true, func(h *harness) { h.src.checkErr = errors.New("cannot read o/r") }, rotation.RunFailed, "CheckFailed", rotation.ErrRunFailed, rotation.VersionRetired},
		{"apply fails on binding 3 of 5", false, func(h *harness) { h.tgts[0].failApply = map[int]bool{3: true} }, rotation.RunRolledBack, "ApplyFailed", rotation.ErrRolledBack, rotation.VersionRetired},
		{"apply fails on second target", true, func(h *harness) { h.tgts[1].failApply = map[int]bool{0: true} }, rotation.RunRolledBack, "ApplyFailed", rotation.ErrRolledBack, rotation.VersionRetired},
		{"verify fails", true, func(h *harness) { h.tgts[0].failVerify = map[int]bool{1: true} }, rotation.RunRolledBack, "VerifyFailed", rotation.ErrRolledBack, rotation.VersionRetired},
		{"token over the organisation's maximum lifetime", false, func(h *harness) {
			h.cred.MaxLifetime, h.src.expires = 30*24*time.Hour, h.now.Add(90*24*time.Hour)
		}, rotation.RunFailed, "CheckFailed", rotation.ErrRunFailed, rotation.VersionRejected},
		{"token without expiry under a maximum lifetime", false, func(h *harness) { h.cred.MaxLifetime = 366 * 24 * time.Hour }, rotation.RunFailed, "CheckFailed", rotation.ErrRunFailed, rotation.VersionRejected},
		{"no token given", false, func(h *harness) { h.src.next = nil }, rotation.RunFailed, "MintFailed", rotation.ErrRunFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.byRotor, 5, 2)
			h.personal(1)
			tt.setup(h)
			old := fp(h.versions()[rotation.VersionCurrent])
			run, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var re *rotation.RunError
			if !errors.As(err, &re) || !errors.Is(re.Err, tt.wantErr) {
				t.Fatalf("err %v: want a RunError wrapping %v", err, tt.wantErr)
			}
			if run.Status != tt.wantStatus || run.Reason != tt.wantReason {
				t.Fatalf("run = %s/%s, want %s/%s (%s)", run.Status, run.Reason, tt.wantStatus, tt.wantReason, run.Error)
			}
			vs := h.versions()
			if fp(vs[rotation.VersionCurrent]) != old {
				t.Fatalf("current version changed on failure: %+v", vs)
			}
			if tt.wantNew != "" && len(vs[tt.wantNew]) != 1 {
				t.Fatalf("new version not %s: %+v", tt.wantNew, vs)
			}
			if tt.wantNew == rotation.VersionRetired && h.w.live[vs[tt.wantNew][0].Fingerprint] {
				t.Fatal("new version left live after failure")
			}
			h.invariants(old)
			if _, err := h.store.OpenRun(context.Background(), "app"); !errors.Is(err, rotation.ErrNotFound) {
				t.Fatalf("run left open: %v", err)
			}
		})
	}
}

// TestEngine_MaxLifetime: a token that expires within the organisation's
// maximum lifetime from now passes the check; the refusal of one that
// does not says why and what to create.
func TestEngine_MaxLifetime(t *testing.T) {
	day := 24 * time.Hour
	h := newHarness(t, false, 2)
	h.personal(2)
	h.cred.MaxLifetime, h.src.expires = 30*day, h.now.Add(30*day+time.Second)
	_, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
	var re *rotation.RunError
	if !errors.As(err, &re) || !strings.Contains(re.Error(), "maximum lifetime (30d)") || !strings.Contains(re.Error(), "expires within 30d") {
		t.Fatalf("over by a second: err = %v, want a refusal naming the maximum lifetime", err)
	}
	h.src.expires = h.now.Add(30 * day)
	run, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
	if err != nil || run.Status != rotation.RunSucceeded {
		t.Fatalf("a token at the maximum lifetime: %v, %+v", err, run)
	}
	if v := h.versions()[rotation.VersionCurrent]; len(v) != 1 || !v[0].ExpiresAt.Equal(h.src.expires) {
		t.Fatalf("current version %+v, want it to expire at %s", v, h.src.expires)
	}
}

// TestEngine_CrashAtEveryStep kills the engine (a panic from its hook, with
// the lease left behind) after each persisted step, then resumes with a new
// engine, and checks the invariants every time.
func TestEngine_CrashAtEveryStep(t *testing.T) {
	steps := []string{"started", "discovered", "minted", "checked", "applied", "verified", "promoted"}
	failing := []string{"failed", "rolled_back", "run.rolled_back"}
	for _, byRotor := range []bool{false, true} {
		for _, failVerify := range []bool{false, true} {
			list := steps
			if failVerify {
				list = append(steps[:5:5], failing...)
			}
			for _, at := range list {
				name := map[bool]string{false: "personal", true: "app"}[byRotor] + "/" + map[bool]string{false: "ok", true: "verify-fails"}[failVerify] + "/" + at
				t.Run(name, func(t *testing.T) {
					h := newHarness(t, byRotor, 4)
					h.personal(2)
					if failVerify {
						h.tgts[0].failVerify = map[int]bool{2: true}
					}
					old := fp(h.versions()[rotation.VersionCurrent])
					e := h.engine()
					e.Hook = func(step string) {
						if step == at {
							e.Hook = nil
							panic(crash{})
						}
					}
					crashed := func() (c bool) {
						defer func() {
							if r := recover(); r != nil {
								if _, ok := r.(crash); !ok {
									panic(r)
								}
								c = true
							}
						}()
						_, _ = e.Rotate(context.Background(), h.cred, rotation.Options{})
						return false
					}()
					if !crashed {
						t.Fatalf("never reached step %s", at)
					}
					// A fresh process: without --resume it refuses, with it it finishes.
					if at != "promoted" && at != "run.rolled_back" {
						if _, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{}); !errors.Is(err, rotation.ErrOpenRun) {
							t.Fatalf("rotate over an open run: %v", err)
						}
					}
					run, _, err := h.engine().Resume(context.Background(), h.cred)
					vs := h.versions()
					want := fp(vs[rotation.VersionCurrent])
					if failVerify {
						if !errors.Is(err, rotation.ErrRolledBack) && run.ID != 0 {
							t.Fatalf("resume after failure: %v", err)
						}
						if want != old {
							t.Fatalf("failed run changed the current version")
						}
					} else if err != nil {
						t.Fatalf("resume: %v", err)
					} else if want == old {
						t.Fatalf("resumed run did not promote the new version: %+v", vs)
					}
					h.invariants(want)
				})
			}
		}
	}
}

// TestEngine_CrashMidApply crashes after some bindings took the new token but
// before any result was persisted; resume must finish them all.
func TestEngine_CrashMidApply(t *testing.T) {
	h := newHarness(t, true, 6)
	h.tgts[0].crashAfter = 3
	func() {
		defer func() { _ = recover() }()
		_, _ = h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
	}()
	if _, _, err := h.engine().Resume(context.Background(), h.cred); err != nil {
		t.Fatalf("resume: %v", err)
	}
	h.invariants(fp(h.versions()[rotation.VersionCurrent]))
}

func TestEngine_RollbackRetriesAndRevokeResumes(t *testing.T) {
	h := newHarness(t, true, 3)
	h.tgts[0].failVerify = map[int]bool{0: true}
	h.src.revokeFails = 10 // GitHub is down for revocation
	_, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
	if !errors.Is(err, rotation.ErrRollbackStuck) {
		t.Fatalf("err = %v, want ErrRollbackStuck", err)
	}
	// Bindings are back on the old token, the new one is still live and
	// recorded, the run is open.
	old := fp(h.versions()[rotation.VersionCurrent])
	for b, f := range h.w.holding() {
		if f != old {
			t.Fatalf("binding %s not rolled back", b)
		}
	}
	if _, err := h.store.OpenRun(context.Background(), "app"); err != nil {
		t.Fatalf("run not left open for resume: %v", err)
	}
	h.src.revokeFails = 0
	if _, _, err := h.engine().Resume(context.Background(), h.cred); !errors.Is(err, rotation.ErrRolledBack) {
		t.Fatalf("resume = %v", err)
	}
	h.invariants(old)
}

func TestEngine_LeaseExcludesOtherProcess(t *testing.T) {
	h := newHarness(t, true, 1)
	if err := h.store.AcquireLease(context.Background(), "app", "other-replica", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{}); !errors.Is(err, rotation.ErrLeaseHeld) {
		t.Fatalf("Rotate under another's lease = %v", err)
	}
}

func TestEngine_RefusesReusedToken(t *testing.T) {
	h := newHarness(t, false, 1)
	vs := h.versions()[rotation.VersionCurrent]
	cur, _ := h.sealer.Open(context.Background(), vs[0].SealContext(), vs[0].Sealed)
	h.src.next = []token.Token{cur}
	run, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
	if !errors.Is(err, rotation.ErrRunFailed) || run.Reason != "TokenReused" {
		t.Fatalf("rotate with the current token = %v (%s)", err, run.Reason)
	}
	if !h.w.live[cur.Fingerprint()] {
		t.Fatal("the current token was revoked")
	}
	h.invariants(cur.Fingerprint())
}

func TestEngine_RetireWaitsForVerifiedBindings(t *testing.T) {
	h := newHarness(t, true, 2)
	if _, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	// A later run fails before apply: the previous version must still be
	// retired on time, since every binding was verified on current.
	h.src.checkErr = errors.New("nope")
	_, _ = h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
	h.src.checkErr = nil
	h.now = h.now.Add(time.Hour)
	got, err := h.engine().Retire(context.Background(), h.cred)
	if err != nil || len(got) != 1 {
		t.Fatalf("Retire = %v, %v", got, err)
	}
	h.invariants(fp(h.versions()[rotation.VersionCurrent]))
}

// TestEngine_MintedButNotRecorded: the run's context ends (shutdown, a lost
// lease) while GitHub answers the mint. The token exists only in GitHub; it
// must be revoked, not left live and unused (I3). Found by the torture run.
// (That the answer reaches the engine at all, the request not being
// cancelled with the run, is the source's part: rotation.Detached, tested
// by the github-app source.)
func TestEngine_MintedButNotRecorded(t *testing.T) {
	h := newHarness(t, true, 2)
	ctx, cancel := context.WithCancel(context.Background())
	h.src.onMint = cancel
	if _, err := h.engine().Rotate(ctx, h.cred, rotation.Options{}); err == nil {
		t.Fatal("Rotate succeeded with its context cancelled")
	}
	if o := h.w.orphans(); len(o) > 0 {
		t.Fatalf("minted tokens left live and unrecorded: %v", o)
	}
	h.src.onMint = nil
	if _, _, err := h.engine().Resume(context.Background(), h.cred); err != nil {
		t.Fatalf("resume: %v", err)
	}
	h.invariants(fp(h.versions()[rotation.VersionCurrent]))
}

// TestEngine_RollbackDrainsBeforeRevoking: after a rollback wrote the
// previous token back, the new one stays valid RollbackDrain longer before
// it is revoked: a service may have read it just before the write (the
// torture run saw a CodePipeline poll fetch with it right after).
func TestEngine_RollbackDrainsBeforeRevoking(t *testing.T) {
	h := newHarness(t, true, 2)
	h.tgts[0].failApply = map[int]bool{1: true}
	h.cred.RollbackDrain = 150 * time.Millisecond
	run, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{})
	if err == nil || run.Status != rotation.RunRolledBack {
		t.Fatalf("Rotate = %v, %v: want a rolled-back run", run.Status, err)
	}
	if len(h.w.afterWrite) != 1 {
		t.Fatalf("%d revocations, want 1 (the new token)", len(h.w.afterWrite))
	}
	if d := h.w.afterWrite[0]; d < h.cred.RollbackDrain {
		t.Errorf("the new token was revoked %v after the rollback's write, want at least %v", d, h.cred.RollbackDrain)
	}
	h.invariants(fp(h.versions()[rotation.VersionCurrent]))
}
