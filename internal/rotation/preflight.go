package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Refusals a run can know before it asks for or mints a token and before it
// writes anything (the discover step): what targets refuse when discovering,
// what they refuse once they see the credential's other bindings (Vet), and
// a place shared with another credential whose run is in flight.

// vet lets each target that implements Vetter judge its bindings with every
// binding of the credential in view, and returns the bindings as vetted.
func (s *session) vet(ctx context.Context, all []BindingState) ([]BindingState, error) {
	bindings := make([]Binding, len(all))
	for i, st := range all {
		bindings[i] = st.Binding
	}
	var errs []error
	for slot, t := range s.c.Targets {
		v, ok := t.(Vetter)
		if !ok {
			continue
		}
		var own []Binding
		for _, b := range bindings {
			if b.Slot == slot {
				own = append(own, b)
			}
		}
		if len(own) == 0 {
			continue
		}
		vetted, err := v.Vet(ctx, own, bindings)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s target: %w", t.Type(), err))
			continue
		}
		byID := make(map[string]Binding, len(vetted))
		for _, b := range vetted {
			b.Slot = slot
			byID[b.ID] = b
		}
		for i := range all {
			if b, ok := byID[all[i].Binding.ID]; ok && all[i].Binding.Slot == slot {
				all[i].Binding = b
			}
		}
	}
	return all, errors.Join(errs...)
}

// sharedInFlight refuses bindings whose place (a pipeline) also holds a
// binding of another credential whose run is in flight: that run may still
// write it or roll it back, and two processes cannot order their updates of
// one pipeline (the API has no conditional update).
func (s *session) sharedInFlight(ctx context.Context, all []BindingState) error {
	mine := map[string]string{} // target + resource → one of our bindings
	for _, st := range all {
		if b := st.Binding; b.Resource != "" {
			mine[b.Target+"\x00"+b.Resource] = b.ID
		}
	}
	creds, err := s.e.Store.Credentials(ctx)
	if err != nil {
		return fmt.Errorf("read credentials: %w", err)
	}
	var errs []error
	for _, c := range creds {
		if c.Name == s.c.Name {
			continue
		}
		run, err := s.e.Store.OpenRun(ctx, c.Name)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		states, err := s.e.Store.Bindings(ctx, run.ID)
		if err != nil {
			return err
		}
		var shared []string
		for _, st := range states {
			if id, ok := mine[st.Binding.Target+"\x00"+st.Binding.Resource]; ok && st.Binding.Resource != "" && !slices.Contains(shared, id) {
				shared = append(shared, id)
				errs = append(errs, fmt.Errorf("%s is in %s, shared with credential %s, whose run %d is in flight (step %s): rotate again after it finishes", id, st.Binding.Resource, c.Name, run.ID, run.Step))
			}
		}
	}
	return errors.Join(errs...)
}
