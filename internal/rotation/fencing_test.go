package rotation_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// pausingSource is a fakeSource during whose Check or Revoke the process
// is frozen past its lease (SIGSTOP, a VM pause): the engine's clock jumps
// while the call is in flight, as the monotonic clock does for a process
// that was stopped.
type pausingSource struct {
	*fakeSource
	pause func() // called inside Check and Revoke; nil: no pause
}

func (s *pausingSource) Check(ctx context.Context, t token.Token, req rotation.Requirements) (rotation.Identity, error) {
	if s.pause != nil {
		s.pause()
	}
	return s.fakeSource.Check(ctx, t, req)
}

func (s *pausingSource) Revoke(ctx context.Context, t token.Token) error {
	if s.pause != nil {
		s.pause()
	}
	return s.fakeSource.Revoke(ctx, t)
}

// pausingTarget freezes the process inside ApplyWaiting, after the write
// went out.
type pausingTarget struct {
	*busyTarget
	pause func()
}

func (t *pausingTarget) ApplyWaiting(ctx context.Context, tok token.Token, bs []rotation.Binding, w rotation.WaitBounds, report func(rotation.Result)) {
	t.busyTarget.ApplyWaiting(ctx, tok, bs, w, report)
	if t.pause != nil {
		t.pause()
	}
}

// auditEvents lists the audit chain's events.
func (h *harness) auditEvents() []string {
	h.t.Helper()
	recs, _, err := h.store.Audit(context.Background(), 0, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Event)
	}
	return out
}

// A holder paused past its lease writes nothing when it wakes: every write
// of the engine (not only the rotation's steps) goes through the
// transaction the lease fences. Retire, Adopt and MoveStragglers each come
// back with ErrLeaseLost and leave the store as it was, because another
// replica may have taken the credential over in the meantime.
func TestEngine_PausedHolderCannotWrite(t *testing.T) {
	ctx := context.Background()
	pastLease := func(h *harness) func() {
		return func() { h.now = h.now.Add(2 * time.Minute) } // LeaseTTL is a minute
	}

	t.Run("retire", func(t *testing.T) {
		h := newHarness(t, true, 2)
		src := &pausingSource{fakeSource: h.src}
		h.cred.Source = src
		if _, err := h.engine().Rotate(ctx, h.cred, rotation.Options{}); err != nil {
			t.Fatal(err)
		}
		prev := h.versions()[rotation.VersionPrevious]
		h.now = h.now.Add(11 * time.Minute) // the grace period is over
		before := h.auditEvents()

		src.pause = pastLease(h)
		got, err := h.engine().Retire(ctx, h.cred)
		if !errors.Is(err, rotation.ErrLeaseLost) {
			t.Fatalf("Retire by a holder paused past its lease = %v, %v; want ErrLeaseLost", got, err)
		}
		if vs := h.versions(); fp(vs[rotation.VersionPrevious]) != fp(prev) || len(vs[rotation.VersionRetired]) != 0 {
			t.Errorf("versions after the refused retirement: %+v; want version %d still previous", vs, prev[0].Seq)
		}
		if after := h.auditEvents(); len(after) != len(before) {
			t.Errorf("audit grew from %v to %v after the lease was lost", before, after)
		}
	})

	t.Run("adopt", func(t *testing.T) {
		h := newHarness(t, false, 1)
		other := &fakeTarget{w: h.w, name: "b", n: 1}
		src := &pausingSource{fakeSource: &fakeSource{w: h.w, login: "MyGitHubUserName"}}
		cred := rotation.Credential{Name: "other", Source: src, Targets: []rotation.Target{other}}
		tok := token.Generate(token.KindClassicPAT)
		h.w.live[tok.Fingerprint()] = true
		h.w.holds[other.id(0)] = tok.Fingerprint()
		before := h.auditEvents()

		src.pause = pastLease(h)
		v, err := h.engine().Adopt(ctx, cred, tok, rotation.AdoptOptions{ConfirmUnverifiable: true})
		if !errors.Is(err, rotation.ErrLeaseLost) {
			t.Fatalf("Adopt by a holder paused past its lease = %+v, %v; want ErrLeaseLost", v, err)
		}
		if vs, err := h.store.Versions(ctx, "other"); err != nil || len(vs) != 0 {
			t.Errorf("versions of the credential after the refused adoption: %+v, %v; want none", vs, err)
		}
		if after := h.auditEvents(); len(after) != len(before) {
			t.Errorf("audit grew from %v to %v after the lease was lost", before, after)
		}
	})

	t.Run("move stragglers", func(t *testing.T) {
		h, bt := newBusyHarness(t, true, 2)
		pt := &pausingTarget{busyTarget: bt}
		h.cred.Targets = []rotation.Target{pt}
		bt.setBusy(1, true)
		run, err := h.engine().Rotate(ctx, h.cred, rotation.Options{})
		if err != nil || run.Status != rotation.RunSucceeded {
			t.Fatalf("Rotate = %+v, %v; want succeeded with a straggler", run, err)
		}
		bt.setBusy(1, false)
		before := h.auditEvents()

		pt.pause = pastLease(h)
		_, _, err = h.engine().MoveStragglers(ctx, h.cred, rotation.MoveOptions{})
		if !errors.Is(err, rotation.ErrLeaseLost) {
			t.Fatalf("MoveStragglers by a holder paused past its lease = %v; want ErrLeaseLost", err)
		}
		if st := h.bindingStates(run.ID)["a/1"]; st.Status != rotation.BindingWaiting {
			t.Errorf("a/1 after the refused move = %s; want still waiting (nothing recorded)", st.Status)
		}
		if after := h.auditEvents(); len(after) != len(before) {
			t.Errorf("audit grew from %v to %v after the lease was lost", before, after)
		}
		for _, e := range h.auditEvents() {
			if strings.HasPrefix(e, "stragglers") {
				t.Errorf("a stragglers record was written after the lease was lost")
			}
		}
	})
}
