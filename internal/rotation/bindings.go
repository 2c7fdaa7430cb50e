package rotation

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/rotor-ci/rotor/internal/token"
)

// Fan-out to targets: calling a target's Apply, Verify or Rollback for a
// batch of bindings and recording each binding's state.

// runTarget calls one target's Apply, Verify or Rollback for bindings,
// persists every outcome in one transaction, and returns the failures.
func (s *session) runTarget(ctx context.Context, run Run, step string, slot int, todo []BindingState, tok token.Token,
	call func(context.Context, token.Token, []Binding, func(Result)), okStatus BindingStatus) []error {
	byID := make(map[string]BindingState, len(todo))
	bindings := make([]Binding, 0, len(todo))
	for _, st := range todo {
		byID[st.Binding.ID] = st
		bindings = append(bindings, st.Binding)
	}
	var mu sync.Mutex
	results := map[string]Result{}
	if err := leaseOK(ctx); err != nil {
		return []error{err}
	}
	call(ctx, tok, bindings, func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := byID[r.BindingID]; ok {
			results[r.BindingID] = r
		}
	})
	var failed []error
	var out []BindingState
	now := s.e.now()
	waiting := 0
	for _, st := range todo {
		r, reported := results[st.Binding.ID]
		if !reported {
			r.Err = fmt.Errorf("%s: target reported no result", st.Binding.ID)
		}
		if r.Err == nil && r.Waiting != "" && okStatus != BindingApplied {
			// Only an apply may leave a binding for later; a rollback
			// that cannot write yet is not done.
			r.Err = fmt.Errorf("%s: not written yet: %s", st.Binding.ID, r.Waiting)
		}
		switch {
		case r.Err != nil:
			st.UpdatedAt = now
			st.Status, st.Error = BindingFailed, s.scrub(r.Err.Error())
			if r.Unchanged && okStatus == BindingApplied {
				// Only an apply refusal proves the old token is still there.
				st.Status = BindingRefused
			}
			failed = append(failed, fmt.Errorf("%s %s: %s", step, st.Binding.ID, st.Error))
		case r.Waiting != "" && (st.Status == BindingApplying || st.Status == BindingFailed):
			// An earlier attempt (before a crash) may have reached it: it
			// may hold the new version, so it is not a straggler that
			// holds the previous one. It stays applying, and the run
			// waits for it (stragglers.go, pendingApply).
			st.UpdatedAt = now
			st.Status, st.Error, st.Note = BindingApplying, "", s.scrub(r.Waiting)
			waiting++
		case r.Waiting != "":
			// It keeps the previous version. Still waiting since it was
			// first left: its time stays.
			if st.Status != BindingWaiting {
				st.UpdatedAt = now
			}
			st.Status, st.Error, st.Note = BindingWaiting, "", s.scrub(r.Waiting)
			waiting++
		default:
			st.UpdatedAt = now
			st.Status, st.Error, st.Note = okStatus, "", ""
			st.Interrupted = append(st.Interrupted, r.Interrupted...)
		}
		out = append(out, st)
	}
	// A failed verify leaves the binding holding the new version: keep it
	// marked so that rollback knows to restore it.
	if err := s.putBindingStates(ctx, run.ID, out); err != nil {
		failed = append(failed, fmt.Errorf("record %s results: %w", step, err))
	}
	msg := fmt.Sprintf("%s target: %d/%d binding(s) ok", s.c.Targets[slot].Type(), len(todo)-countFailed(out)-waiting, len(todo))
	if waiting > 0 {
		msg += fmt.Sprintf(", %d waiting (the pipeline runs a deployment an update would stop; they keep the previous token)", waiting)
	}
	if n := countInterrupted(out); n > 0 {
		msg += fmt.Sprintf(", %d execution(s) interrupted by policy", n)
	}
	s.e.observe(run, step, len(failed) == 0, msg)
	return failed
}

func countFailed(states []BindingState) int {
	n := 0
	for _, st := range states {
		if st.Status == BindingFailed || st.Status == BindingRefused {
			n++
		}
	}
	return n
}

func (s *session) markApplying(ctx context.Context, runID int64, todo []BindingState) error {
	out := make([]BindingState, len(todo))
	for i, st := range todo {
		st.Status, st.UpdatedAt = BindingApplying, s.e.now()
		out[i] = st
	}
	return s.putBindingStates(ctx, runID, out)
}

// inSlot is the bindings of one target whose status is one of statuses.
func inSlot(states []BindingState, slot int, statuses ...BindingStatus) []BindingState {
	var out []BindingState
	for _, st := range states {
		if st.Binding.Slot == slot && slices.Contains(statuses, st.Status) {
			out = append(out, st)
		}
	}
	return out
}

func (s *session) putBindingStates(ctx context.Context, runID int64, states []BindingState) error {
	return s.e.tx(ctx, func(tx Tx) error { return tx.PutBindings(runID, states) })
}
