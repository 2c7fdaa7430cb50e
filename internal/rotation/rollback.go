package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Failure and rollback: a failure is recorded first and turns the run
// towards rollback, which puts every binding that may hold the new version
// back on the previous one and revokes the new version.

// fail records a failure and turns the run towards rollback. Nothing is
// undone here: rollback does that, so that a crash between the two resumes
// into rollback.
func (s *session) fail(ctx context.Context, run Run, reason string, cause error) (Run, error) {
	if ctx.Err() != nil {
		// Cancelled (shutdown, lost lease): not a failure of the rotation.
		// Leave the run as it is for resume.
		return run, context.Cause(ctx)
	}
	run.Failing, run.Reason, run.Error = true, reason, s.scrub(cause.Error())
	s.e.observe(run, stepOfReason(reason), false, run.Error)
	s.e.log().Error("rotation step failed", "credential", run.Credential, "run", run.ID, "reason", reason, "err", run.Error)
	return s.advance(ctx, run, run.Step, nil, "failed", map[string]any{"reason": reason, "error": run.Error})
}

func stepOfReason(reason string) string {
	if reason == "PersonNeeded" {
		return "mint"
	}
	for _, p := range []string{"Discover", "Mint", "Check", "Apply", "Verify"} {
		if strings.HasPrefix(reason, p) {
			return strings.ToLower(p)
		}
	}
	return "check"
}

// rollback returns every binding that may hold the new version to the
// previous one, then revokes the new version if it reached a binding or rotor
// minted it. It is idempotent and resumable.
func (s *session) rollback(ctx context.Context, run Run) (Run, error) {
	if run.NewSeq != 0 && supersedes(s.c.Source) {
		return s.rollForward(ctx, run)
	}
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return run, err
	}
	touched := false
	for _, st := range states {
		if slices.Contains(mayHoldNew, st.Status) || st.Status == BindingRolledBack {
			touched = true
		}
	}
	if run.Step != StepRolledBack && touched {
		if run.PrevSeq == 0 {
			// Bootstrap run: there is nothing to go back to.
			return s.finish(ctx, run, RunFailed, "bootstrap: bindings keep what they hold", map[string]any{"touched": true})
		}
		prev, _, err := s.token(ctx, run.PrevSeq)
		if err != nil {
			return run, err
		}
		// Bindings being rolled back hold the new version, if any.
		var newExpiry time.Time
		if run.NewSeq != 0 {
			if _, nv, err := s.token(ctx, run.NewSeq); err == nil {
				newExpiry = nv.ExpiresAt
			}
		}
		attempts := max(s.e.RollbackAttempts, 3)
		var left []error
		for attempt := range attempts {
			left = nil
			states, err = s.e.Store.Bindings(ctx, run.ID)
			if err != nil {
				return run, err
			}
			for slot, t := range s.c.Targets {
				todo := inSlot(states, slot, mayHoldNew...)
				if len(todo) == 0 {
					continue
				}
				call := s.applier(slot, WaitBounds{HeldExpires: newExpiry})
				if rb, ok := t.(Rollbacker); ok {
					call = rb.Rollback
				}
				left = append(left, s.runTarget(ctx, run, "rollback", slot, todo, prev, call, BindingRolledBack)...)
			}
			if len(left) == 0 || ctx.Err() != nil {
				break
			}
			s.e.log().Warn("rollback incomplete; retrying", "credential", run.Credential, "run", run.ID, "left", len(left), "attempt", attempt+1)
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
			}
		}
		if len(left) > 0 {
			// Keep the run open: the new version must stay valid while any
			// binding may hold it (I1); a resume will try again.
			return run, &RunError{Run: run, Err: fmt.Errorf("%w: %v", ErrRollbackStuck, left[0])}
		}
		run, err = s.advance(ctx, run, StepRolledBack, nil, "rolled_back", map[string]any{"prev_seq": run.PrevSeq})
		if err != nil {
			return run, err
		}
	}
	if run.NewSeq == 0 {
		return s.finish(ctx, run, RunFailed, "", nil)
	}
	tok, v, err := s.token(ctx, run.NewSeq)
	if err != nil {
		return run, err
	}
	if !touched && !v.ByRotor {
		// A person's token that never reached a binding: it may be theirs
		// for something else; leave it alone and say why it was refused.
		v.State, v.Note = VersionRejected, run.Error
		return s.finishWith(ctx, run, RunFailed, v, map[string]any{"fingerprint": v.Fingerprint, "revoked": false})
	}
	if touched {
		if err := s.drain(ctx); err != nil {
			return run, err
		}
	}
	if err := leaseOK(ctx); err != nil {
		return run, err
	}
	if err := s.c.Source.Revoke(ctx, tok); err != nil {
		if errors.Is(err, ErrManualRevocation) {
			v.Note = s.scrub(err.Error())
		} else {
			// Keep the run open so that a resume revokes it (I3).
			s.e.log().Error("revoke new version after failure", "credential", run.Credential, "fingerprint", v.Fingerprint, "err", s.scrub(err.Error()))
			return run, &RunError{Run: run, Err: fmt.Errorf("%w: revoke %s: %s", ErrRollbackStuck, v.Fingerprint, s.scrub(err.Error()))}
		}
	}
	v.State, v.RetiredAt = VersionRetired, s.e.now()
	status := RunFailed
	if touched {
		status = RunRolledBack
	}
	s.e.observe(run, "revoke", true, fmt.Sprintf("version %d %s revoked", v.Seq, v.Fingerprint))
	return s.finishWith(ctx, run, status, v, map[string]any{"fingerprint": v.Fingerprint, "revoked": v.Note == ""})
}

// drain keeps the new token valid a moment after the rollback wrote the
// previous one back: a service may have read the new token just before
// (CodePipeline's poll of a GitHub source reads the token it stores, then
// fetches) and still be using it. The previous token gets the grace after a
// switch for the same reason; the new one gets RollbackDrain, short, so a
// failed rotation ends soon. A cancelled context returns its cause: the run
// stays open and a resume revokes.
func (s *session) drain(ctx context.Context) error {
	if s.c.RollbackDrain <= 0 {
		return nil
	}
	t := time.NewTimer(s.c.RollbackDrain)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// mayHoldNew are the statuses of a binding that may hold the new version,
// and so must be rolled back after a failure.
var mayHoldNew = []BindingStatus{BindingApplying, BindingApplied, BindingVerified, BindingFailed}

func (s *session) finish(ctx context.Context, run Run, status RunStatus, note string, detail map[string]any) (Run, error) {
	run.Status, run.FinishedAt = status, s.e.now()
	if note != "" {
		run.Error = strings.TrimPrefix(run.Error+"; "+note, "; ")
	}
	return s.advance(ctx, run, run.Step, nil, "run."+string(status), detail)
}

func (s *session) finishWith(ctx context.Context, run Run, status RunStatus, v Version, detail map[string]any) (Run, error) {
	run.Status, run.FinishedAt = status, s.e.now()
	return s.advance(ctx, run, run.Step, func(tx Tx, _ *Run) error { return tx.UpdateVersion(v) }, "run."+string(status), detail)
}
