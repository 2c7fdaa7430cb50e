package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// busyTarget is a fakeTarget whose bindings can be busy (a pipeline running
// a deployment): ApplyWaiting reports them Waiting and writes nothing. It
// can also refuse bindings in Vet.
type busyTarget struct {
	*fakeTarget
	mu     sync.Mutex
	busy   map[int]bool
	bounds []rotation.WaitBounds
	refuse map[int]string
	vets   int
}

var (
	_ rotation.Waiter = (*busyTarget)(nil)
	_ rotation.Vetter = (*busyTarget)(nil)
)

func (t *busyTarget) setBusy(i int, busy bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.busy[i] = busy
}

func (t *busyTarget) ApplyWaiting(ctx context.Context, tok token.Token, bs []rotation.Binding, w rotation.WaitBounds, report func(rotation.Result)) {
	t.mu.Lock()
	t.bounds = append(t.bounds, w)
	t.mu.Unlock()
	for _, b := range bs {
		t.mu.Lock()
		busy := t.busy[t.index(b.ID)]
		t.mu.Unlock()
		if busy {
			report(rotation.Result{BindingID: b.ID, Waiting: "pipeline " + b.ID + " is running execution e-1"})
			continue
		}
		t.Apply(ctx, tok, []rotation.Binding{b}, report)
	}
}

func (t *busyTarget) Vet(_ context.Context, own, all []rotation.Binding) ([]rotation.Binding, error) {
	t.vets++
	var errs []error
	for _, b := range own {
		if why, ok := t.refuse[t.index(b.ID)]; ok {
			errs = append(errs, fmt.Errorf("pipeline %s: %s", b.ID, why))
		}
	}
	return own, errors.Join(errs...)
}

func newBusyHarness(t *testing.T, byRotor bool, n int) (*harness, *busyTarget) {
	h := newHarness(t, byRotor, n)
	bt := &busyTarget{fakeTarget: h.tgts[0], busy: map[int]bool{}, refuse: map[int]string{}}
	h.cred.Targets = []rotation.Target{bt}
	return h, bt
}

func (h *harness) bindingStates(runID int64) map[string]rotation.BindingState {
	h.t.Helper()
	states, err := h.store.Bindings(context.Background(), runID)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]rotation.BindingState{}
	for _, st := range states {
		out[st.Binding.ID] = st
	}
	return out
}

func TestEngine_Stragglers(t *testing.T) {
	ctx := context.Background()
	h, bt := newBusyHarness(t, false, 3)
	h.personal(1)
	old := fp(h.versions()[rotation.VersionCurrent])
	bt.setBusy(1, true)

	run, err := h.engine().Rotate(ctx, h.cred, rotation.Options{})
	if err != nil || run.Status != rotation.RunSucceeded {
		t.Fatalf("Rotate = %+v, %v; want succeeded with a straggler", run, err)
	}
	cur := fp(h.versions()[rotation.VersionCurrent])
	states := h.bindingStates(run.ID)
	if st := states["a/1"]; st.Status != rotation.BindingWaiting || !strings.Contains(st.Note, "running execution") {
		t.Fatalf("a/1 = %+v, want waiting with a note", st)
	}
	if held := h.w.holding(); held["a/1"] != old || held["a/0"] != cur || held["a/2"] != cur {
		t.Fatalf("holdings %v: want a/1 on the old token, the others on the new", held)
	}
	if len(h.w.violations) > 0 {
		t.Fatalf("I1: %v", h.w.violations)
	}
	if !strings.Contains(h.events[len(h.events)-1].Message, "a/1") {
		t.Errorf("promote event does not name the straggler: %+v", h.events[len(h.events)-1])
	}
	_, left, err := rotation.Stragglers(ctx, h.store, "app")
	if err != nil || len(left) != 1 || left[0].Binding.ID != "a/1" {
		t.Fatalf("Stragglers = %v, %v", left, err)
	}

	// I2/I8: the old token is not retired while a binding holds it, grace
	// or not.
	h.now = h.now.Add(time.Hour)
	if got, err := h.engine().Retire(ctx, h.cred); err != nil || len(got) != 0 || !h.w.live[old] {
		t.Fatalf("Retire with a straggler = %v, %v; old live %v", got, err, h.w.live[old])
	}

	// Still busy: it stays waiting, with its time.
	since := states["a/1"].UpdatedAt
	if _, left, err := h.engine().MoveStragglers(ctx, h.cred, rotation.MoveOptions{NoWait: true}); err != nil || len(left) != 1 {
		t.Fatalf("MoveStragglers while busy = %v, %v", left, err)
	}
	if st := h.bindingStates(run.ID)["a/1"]; st.Status != rotation.BindingWaiting || !st.UpdatedAt.Equal(since) {
		t.Errorf("a/1 after a busy tick = %+v, want waiting since %v", st, since)
	}
	if w := bt.bounds[len(bt.bounds)-1]; !w.NoWait {
		t.Errorf("bounds = %+v, want NoWait", w)
	}

	// Idle: it moves and is verified; then the old token is retired.
	bt.setBusy(1, false)
	if _, left, err := h.engine().MoveStragglers(ctx, h.cred, rotation.MoveOptions{}); err != nil || len(left) != 0 {
		t.Fatalf("MoveStragglers when idle = %v, %v", left, err)
	}
	if st := h.bindingStates(run.ID)["a/1"]; st.Status != rotation.BindingVerified {
		t.Errorf("a/1 = %+v, want verified", st)
	}
	// The grace period counts from the moment the last binding moved off
	// the old token: not retired yet.
	if got, err := h.engine().Retire(ctx, h.cred); err != nil || len(got) != 0 || !h.w.live[old] {
		t.Fatalf("Retire right after the straggler moved = %v, %v: want the grace period first", got, err)
	}
	h.now = h.now.Add(11 * time.Minute)
	got, err := h.engine().Retire(ctx, h.cred)
	if err != nil || len(got) != 1 || h.w.live[old] {
		t.Fatalf("Retire after the straggler moved = %v, %v", got, err)
	}
	h.invariants(cur)
	recs, _, _ := h.store.Audit(ctx, 0, 0)
	var events []string
	for _, r := range recs {
		events = append(events, r.Event)
		if r.Event == "applied" && !strings.Contains(r.Detail, `"waiting":["a/1"]`) {
			t.Errorf("applied audit detail = %s, want the waiting binding", r.Detail)
		}
	}
	if !strings.Contains(strings.Join(events, " "), "stragglers") {
		t.Errorf("no stragglers audit record: %v", events)
	}
}

// TestEngine_NewRunWhileStragglers: a rotation started while a straggler
// waits takes it straight from the oldest version to the newest, and both
// older versions are retired only once it has.
func TestEngine_NewRunWhileStragglers(t *testing.T) {
	ctx := context.Background()
	h, bt := newBusyHarness(t, true, 2)
	v1 := fp(h.versions()[rotation.VersionCurrent])
	bt.setBusy(0, true)
	if _, err := h.engine().Rotate(ctx, h.cred, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	v2 := fp(h.versions()[rotation.VersionCurrent])
	h.now = h.now.Add(time.Minute)
	bt.setBusy(0, false)
	run, err := h.engine().Rotate(ctx, h.cred, rotation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v3 := fp(h.versions()[rotation.VersionCurrent])
	if held := h.w.holding(); held["a/0"] != v3 || held["a/1"] != v3 {
		t.Fatalf("holdings %v, want every binding on %s", held, v3)
	}
	if len(h.versions()[rotation.VersionPrevious]) != 2 {
		t.Fatalf("previous versions: %+v, want v1 and v2", h.versions()[rotation.VersionPrevious])
	}
	for _, v := range h.versions()[rotation.VersionPrevious] {
		if !v.RetireAfter.Equal(h.now.Add(h.cred.Grace)) {
			t.Errorf("version %d retires after %v, want the grace from this promotion (the straggler moved off v1 in this run)", v.Seq, v.RetireAfter)
		}
	}
	h.now = h.now.Add(time.Hour)
	got, err := h.engine().Retire(ctx, h.cred)
	if err != nil || len(got) != 2 || h.w.live[v1] || h.w.live[v2] {
		t.Fatalf("Retire = %v, %v", got, err)
	}
	if _, left, _ := rotation.Stragglers(ctx, h.store, "app"); len(left) != 0 {
		t.Errorf("stragglers after run %d: %v", run.ID, left)
	}
	h.invariants(v3)
}

// TestEngine_HeldExpiryBounds: the wait is bounded by the expiry of the
// token the bindings hold.
func TestEngine_HeldExpiryBounds(t *testing.T) {
	ctx := context.Background()
	h, bt := newBusyHarness(t, true, 1)
	exp := h.now.Add(20 * time.Minute)
	cur := h.versions()[rotation.VersionCurrent][0]
	cur.ExpiresAt = exp
	if err := h.store.Tx(ctx, func(tx rotation.Tx) error { return tx.UpdateVersion(cur) }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.engine().Rotate(ctx, h.cred, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	if len(bt.bounds) != 1 || !bt.bounds[0].HeldExpires.Equal(exp) || bt.bounds[0].NoWait {
		t.Errorf("bounds = %+v, want HeldExpires %v", bt.bounds, exp)
	}
}

// TestEngine_RefusedBeforeMint: what a run can know it refuses (Vet, a
// place shared with another credential's run in flight) stops it before a
// token is minted or asked for, and before any write.
func TestEngine_RefusedBeforeMint(t *testing.T) {
	ctx := context.Background()
	t.Run("vet", func(t *testing.T) {
		h, bt := newBusyHarness(t, true, 3)
		bt.refuse = map[int]string{0: "managed by CloudFormation (stack s)", 2: "other_actions: refuse"}
		run, err := h.engine().Rotate(ctx, h.cred, rotation.Options{})
		if !errors.Is(err, rotation.ErrRunFailed) || run.Reason != "DiscoverFailed" {
			t.Fatalf("Rotate = %+v, %v; want DiscoverFailed", run, err)
		}
		for _, want := range []string{"a/0", "CloudFormation", "a/2", "other_actions"} {
			if !strings.Contains(run.Error, want) {
				t.Errorf("run error %q does not name %q", run.Error, want)
			}
		}
		if len(h.w.minted) != 0 || len(bt.calls) != 0 {
			t.Errorf("minted %d token(s), target calls %v: want none", len(h.w.minted), bt.calls)
		}
	})
	t.Run("shared with a run in flight", func(t *testing.T) {
		h, bt := newBusyHarness(t, false, 2)
		h.personal(1)
		// Another credential's run is in flight with a binding in a/1's place.
		err := h.store.Tx(ctx, func(tx rotation.Tx) error {
			if err := tx.PutCredential(rotation.CredentialRecord{Name: "other", CreatedAt: h.now}); err != nil {
				return err
			}
			r, err := tx.CreateRun(rotation.Run{Credential: "other", Trigger: "manual", Step: rotation.StepApplied, Status: rotation.RunRunning, StartedAt: h.now, UpdatedAt: h.now})
			if err != nil {
				return err
			}
			return tx.PutBindings(r.ID, []rotation.BindingState{{Binding: rotation.Binding{ID: "other/Tools", Target: "fake", Resource: "a/1"}, Status: rotation.BindingApplying, UpdatedAt: h.now}})
		})
		if err != nil {
			t.Fatal(err)
		}
		run, err := h.engine().Rotate(ctx, h.cred, rotation.Options{})
		if !errors.Is(err, rotation.ErrRunFailed) || run.Reason != "SharedInFlight" || !strings.Contains(run.Error, "credential other") {
			t.Fatalf("Rotate = %+v, %v; want SharedInFlight naming credential other", run, err)
		}
		if len(h.src.next) != 1 || len(bt.calls) != 0 {
			t.Errorf("the person's token was taken (%d left) or a target was called (%v)", len(h.src.next), bt.calls)
		}
	})
}

// TestEngine_RollbackWaitsForBusy: a binding that cannot be rolled back yet
// because its pipeline is busy keeps the run open (rollback incomplete), and
// the new token stays valid until it is.
func TestEngine_RollbackWaitsForBusy(t *testing.T) {
	ctx := context.Background()
	h, bt := newBusyHarness(t, true, 3)
	bt.failVerify = map[int]bool{2: true}
	var once sync.Once
	bt.onVerify = func() { once.Do(func() { bt.setBusy(0, true) }) }
	run, err := h.engine().Rotate(ctx, h.cred, rotation.Options{})
	if !errors.Is(err, rotation.ErrRollbackStuck) {
		t.Fatalf("Rotate = %+v, %v; want rollback incomplete", run, err)
	}
	nv := run.NewSeq
	vs, _ := h.store.Versions(ctx, "app")
	for _, v := range vs {
		if v.Seq == nv && !h.w.live[v.Fingerprint] {
			t.Fatal("the new token was revoked while a binding may hold it")
		}
	}
	bt.setBusy(0, false)
	run, err = h.engine().Rotate(ctx, h.cred, rotation.Options{Resume: true})
	if !errors.Is(err, rotation.ErrRolledBack) {
		t.Fatalf("resume = %+v, %v; want rolled back", run, err)
	}
	h.invariants(fp(h.versions()[rotation.VersionCurrent]))
}

// TestEngine_InDoubtBindingBusyOnResume: a crash after some bindings took
// the new version, then on resume one of them is busy: it may hold the new
// version, so it is neither a straggler (which holds the previous one) nor
// rolled back past; the run stays open until it is idle, and a later
// failure's rollback still restores it (I1: the new token is not revoked
// while it may hold it).
func TestEngine_InDoubtBindingBusyOnResume(t *testing.T) {
	ctx := context.Background()
	h, bt := newBusyHarness(t, true, 4)
	bt.crashAfter = 2
	func() {
		defer func() { _ = recover() }()
		_, _ = h.engine().Rotate(ctx, h.cred, rotation.Options{})
	}()
	open, err := h.store.OpenRun(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	newFP := h.w.holding()["a/0"]
	bt.setBusy(0, true) // took the new version before the crash; now deploying
	_, _, err = h.engine().Resume(ctx, h.cred)
	if !errors.Is(err, rotation.ErrApplyPending) {
		t.Fatalf("resume with an in-doubt binding busy = %v, want ErrApplyPending", err)
	}
	if st := h.bindingStates(open.ID)["a/0"]; st.Status != rotation.BindingApplying {
		t.Fatalf("a/0 = %s, want applying (it may hold either version)", st.Status)
	}
	// A failure now must restore a/0 too before revoking the new token.
	bt.failVerify = map[int]bool{1: true}
	bt.setBusy(0, false)
	_, _, err = h.engine().Resume(ctx, h.cred)
	if !errors.Is(err, rotation.ErrRolledBack) {
		t.Fatalf("resume = %v, want rolled back", err)
	}
	if h.w.live[newFP] {
		t.Error("the failed run's token is still live")
	}
	if len(h.w.violations) > 0 {
		t.Fatalf("I1: %v", h.w.violations)
	}
	h.invariants(fp(h.versions()[rotation.VersionCurrent]))
}
