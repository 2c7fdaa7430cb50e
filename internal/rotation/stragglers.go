package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Stragglers are the bindings of a succeeded run that do not hold its
// version yet: they waited for their place to be idle (a pipeline running a
// deployment, which an update would stop) and kept the previous version,
// which is therefore not retired (Retire checks every binding of the newest
// succeeded run). They move as soon as their place is idle: by
// MoveStragglers, which `rotor rotate NAME --resume` runs waiting as the
// target's policy says and rotor serve runs on each tick without waiting.
// A new rotation may start while stragglers exist: its bindings include
// them, and they go from the old version straight to the new one.

// applier is the call that writes tok to one target's bindings: the
// target's ApplyWaiting with w when it can wait for busy places, its Apply
// otherwise.
func (s *session) applier(slot int, w WaitBounds) func(context.Context, token.Token, []Binding, func(Result)) {
	t := s.c.Targets[slot]
	if wt, ok := t.(Waiter); ok {
		return func(ctx context.Context, tok token.Token, bs []Binding, report func(Result)) {
			wt.ApplyWaiting(ctx, tok, bs, w, report)
		}
	}
	return t.Apply
}

// ErrApplyPending: a binding that may already hold the new version (an
// attempt before a crash may have reached it) is busy, so the apply step
// cannot finish yet. The run stays open at its step; resume (rotor rotate
// --resume, rotor serve) goes on once the place is idle. Neither a
// straggler (it may not hold the previous version) nor a failure (nothing
// failed), it must not be rolled back past or promoted over.
var ErrApplyPending = errors.New("apply not finished: a binding that may hold the new version waits for its pipeline")

// pendingApply is ErrApplyPending when a binding stayed applying.
func (s *session) pendingApply(ctx context.Context, run Run) error {
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return err
	}
	for _, st := range states {
		if st.Status == BindingApplying {
			return fmt.Errorf("%s: run %d: %w: %s (%s)", run.Credential, run.ID, ErrApplyPending, st.Binding.ID, st.Note)
		}
	}
	return nil
}

// heldExpiry is the earliest expiry of the versions a binding may hold
// while version seq goes out: the current and previous ones (a straggler
// of an earlier run may still hold a previous version). Zero: none expires.
func (s *session) heldExpiry(ctx context.Context, seq int64) (time.Time, error) {
	versions, err := s.e.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return time.Time{}, err
	}
	var at time.Time
	for _, v := range versions {
		if v.Seq == seq || (v.State != VersionCurrent && v.State != VersionPrevious) || v.ExpiresAt.IsZero() {
			continue
		}
		if at.IsZero() || v.ExpiresAt.Before(at) {
			at = v.ExpiresAt
		}
	}
	return at, nil
}

// applyDetail is the audit detail of an apply: the bindings left waiting,
// and the executions interrupted, by place.
func (s *session) applyDetail(ctx context.Context, run Run) (map[string]any, error) {
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	return bindingDetail(states), nil
}

func bindingDetail(states []BindingState) map[string]any {
	var waiting []string
	interrupted := map[string][]string{}
	for _, st := range states {
		if st.Status == BindingWaiting {
			waiting = append(waiting, st.Binding.ID)
		}
		for _, x := range st.Interrupted {
			where := st.Binding.Resource
			if !slices.Contains(interrupted[where], x) {
				interrupted[where] = append(interrupted[where], x)
			}
		}
	}
	d := map[string]any{}
	if len(waiting) > 0 {
		d["waiting"] = waiting
	}
	if len(interrupted) > 0 {
		d["interrupted"] = interrupted
	}
	if len(d) == 0 {
		return nil
	}
	return d
}

func countInterrupted(states []BindingState) int {
	seen := map[string]bool{}
	for _, st := range states {
		for _, x := range st.Interrupted {
			seen[st.Binding.Resource+"\x00"+x] = true
		}
	}
	return len(seen)
}

// RunReader reads a credential's runs and their bindings: the engine's
// Store does, and so does the read side that the CLI holds.
type RunReader interface {
	Runs(ctx context.Context, credential string, limit int) ([]Run, error)
	Bindings(ctx context.Context, runID int64) ([]BindingState, error)
}

// Stragglers returns credential's newest succeeded run and those of its
// bindings that do not hold its version yet (not verified), or a zero run
// when there is none.
func Stragglers(ctx context.Context, st RunReader, credential string) (Run, []BindingState, error) {
	runs, err := st.Runs(ctx, credential, 0)
	if err != nil {
		return Run{}, nil, err
	}
	// A migration's actions left on version 1 are not stragglers: they
	// hold the credential's current token.
	i := slices.IndexFunc(runs, func(r Run) bool { return r.Status == RunSucceeded && r.Trigger != TriggerMigrate })
	if i < 0 {
		return Run{}, nil, nil
	}
	states, err := st.Bindings(ctx, runs[i].ID)
	if err != nil {
		return Run{}, nil, err
	}
	var left []BindingState
	for _, s := range states {
		if s.Status != BindingVerified {
			left = append(left, s)
		}
	}
	if len(left) == 0 {
		return Run{}, nil, nil
	}
	return runs[i], left, nil
}

// regrace gives every previous version (other than seq) a grace period
// starting now, unless it already runs longer.
func (e *Engine) regrace(tx Tx, versions []Version, seq int64, grace time.Duration) error {
	until := e.now().Add(grace)
	for _, v := range versions {
		if v.Seq == seq || v.State != VersionPrevious || !v.RetireAfter.Before(until) {
			continue
		}
		v.RetireAfter = until
		if err := tx.UpdateVersion(v); err != nil {
			return err
		}
	}
	return nil
}

// MoveOptions change one MoveStragglers call.
type MoveOptions struct {
	// NoWait applies only bindings whose place is idle now (rotor serve's
	// tick); otherwise busy places are waited for as each target's policy
	// says (max_wait).
	NoWait bool
}

// MoveStragglers writes the version of c's newest succeeded run to its
// stragglers whose place is idle, and verifies them; a straggler still busy
// stays waiting, one that fails is recorded failed (it may hold either
// version; both stay valid, since the previous one is not retired while it
// is unverified) and is tried again next time. It returns the run and the
// stragglers left. ErrOpenRun: a run is in flight, and it covers them.
func (e *Engine) MoveStragglers(ctx context.Context, c Credential, o MoveOptions) (Run, []BindingState, error) {
	var (
		out  Run
		left []BindingState
	)
	err := e.withLease(ctx, c.Name, func(ctx context.Context) error {
		if open, err := e.Store.OpenRun(ctx, c.Name); err == nil {
			return fmt.Errorf("%s: %w (run %d): it moves the stragglers itself", c.Name, ErrOpenRun, open.ID)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		run, todo, err := Stragglers(ctx, e.Store, c.Name)
		if err != nil || len(todo) == 0 {
			return err
		}
		out = run
		versions, err := e.Store.Versions(ctx, c.Name)
		if err != nil {
			return err
		}
		if cur, ok := findState(versions, VersionCurrent); !ok || cur.Seq != run.NewSeq {
			left = todo // a later adoption replaced that version: nothing to move to
			return nil
		}
		s := &session{e: e, c: c}
		defer s.forget()
		tok, _, err := s.token(ctx, run.NewSeq)
		if err != nil {
			return err
		}
		held, err := s.heldExpiry(ctx, run.NewSeq)
		if err != nil {
			return err
		}
		w := WaitBounds{NoWait: o.NoWait, HeldExpires: held}
		for slot := range c.Targets {
			apply := inSlot(todo, slot, BindingWaiting, BindingPending, BindingApplying, BindingFailed, BindingRefused)
			if len(apply) > 0 {
				s.runTarget(ctx, run, "apply", slot, apply, tok, s.applier(slot, w), BindingApplied)
			}
			states, err := e.Store.Bindings(ctx, run.ID)
			if err != nil {
				return err
			}
			if verify := inSlot(states, slot, BindingApplied); len(verify) > 0 {
				s.runTarget(ctx, run, "verify", slot, verify, tok, c.Targets[slot].Verify, BindingVerified)
			}
		}
		_, left, err = Stragglers(ctx, e.Store, c.Name)
		if err != nil {
			return err
		}
		states, err := e.Store.Bindings(ctx, run.ID)
		if err != nil {
			return err
		}
		detail := bindingDetail(states)
		if detail == nil {
			detail = map[string]any{}
		}
		moved := len(todo) - len(left)
		detail["moved"], detail["left"] = moved, len(left)
		err = e.tx(ctx, func(tx Tx) error {
			if moved > 0 {
				// The grace period is the old token's life after the last
				// binding moved off it, whenever that was: it starts again.
				if err := e.regrace(tx, versions, run.NewSeq, c.Grace); err != nil {
					return err
				}
			}
			return e.audit(ctx, tx, run, "stragglers", detail)
		})
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("%d of %d straggler(s) now hold version %d", len(todo)-len(left), len(todo), run.NewSeq)
		if len(left) == 0 {
			msg += fmt.Sprintf("; every binding holds it, and version %d can be retired", run.PrevSeq)
		}
		e.observe(run, "stragglers", true, msg)
		e.hook("stragglers")
		return nil
	})
	return out, left, err
}
