package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Retire revokes c's previous versions whose grace period has ended, but
// only when no binding can still hold them (I2): no run is open, and the run
// that promoted the current version verified every one of its bindings.
// It returns the versions it retired. Idempotent.
func (e *Engine) Retire(ctx context.Context, c Credential) ([]Version, error) {
	var retired []Version
	err := e.withLease(ctx, c.Name, func(ctx context.Context) error {
		if _, err := e.Store.OpenRun(ctx, c.Name); err == nil {
			return nil // a run is in flight; retire after it
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		due, err := e.dueForRetirement(ctx, c)
		if err != nil || len(due) == 0 {
			return err
		}
		s := &session{e: e, c: c}
		defer s.forget()
		for _, v := range due {
			tok, _, err := s.token(ctx, v.Seq)
			if err != nil {
				return err
			}
			if err := c.Source.Revoke(ctx, tok); err != nil {
				if !errors.Is(err, ErrManualRevocation) {
					return fmt.Errorf("%s: revoke version %d (%s): %s", c.Name, v.Seq, v.Fingerprint, s.scrub(err.Error()))
				}
				v.Note = s.scrub(err.Error())
			}
			v.State, v.RetiredAt = VersionRetired, e.now()
			run := Run{Credential: c.Name}
			err = e.tx(ctx, func(tx Tx) error {
				if err := tx.UpdateVersion(v); err != nil {
					return err
				}
				return e.audit(ctx, tx, run, "retired", map[string]any{"seq": v.Seq, "fingerprint": v.Fingerprint, "manual": v.Note != ""})
			})
			if err != nil {
				return fmt.Errorf("%s: record retirement of version %d: %w", c.Name, v.Seq, err)
			}
			msg := fmt.Sprintf("version %d %s revoked", v.Seq, v.Fingerprint)
			if v.Note != "" {
				msg = fmt.Sprintf("version %d %s must be deleted by hand: %s", v.Seq, v.Fingerprint, v.Note)
			}
			e.observe(run, "retire", v.Note == "", msg)
			e.hook("retired")
			retired = append(retired, v)
		}
		return nil
	})
	return retired, err
}

// RetireDue returns the versions Retire would revoke now, and changes
// nothing (rotor retire --dry-run).
func (e *Engine) RetireDue(ctx context.Context, c Credential) ([]Version, error) {
	if _, err := e.Store.OpenRun(ctx, c.Name); err == nil {
		return nil, nil // a run is in flight; retire after it
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return e.dueForRetirement(ctx, c)
}

// dueForRetirement lists c's previous versions whose grace period has
// ended, when every binding was verified on the current version (I2).
func (e *Engine) dueForRetirement(ctx context.Context, c Credential) ([]Version, error) {
	versions, err := e.Store.Versions(ctx, c.Name)
	if err != nil {
		return nil, err
	}
	cur, ok := findState(versions, VersionCurrent)
	migrated := false
	if !ok {
		// A migrated credential has no current version: its last
		// token went to previous when its last action moved to a
		// connection, and retires like any previous version.
		runs, err := e.Store.Runs(ctx, c.Name, 1)
		if err != nil {
			return nil, err
		}
		if _, migrated = Migrated(runs); !migrated {
			return nil, nil
		}
	}
	now := e.now()
	var due []Version
	for _, v := range versions {
		if v.State == VersionPrevious && !now.Before(v.RetireAfter) {
			due = append(due, v)
		}
	}
	if len(due) == 0 {
		return nil, nil
	}
	// A migration verified every action on its connection; a rotation
	// must have verified every binding on the current version.
	if !migrated {
		if err := e.everyBindingOn(ctx, c.Name, cur.Seq); err != nil {
			e.log().Warn("not retiring: a binding may still hold an old version", "credential", c.Name, "err", err)
			return nil, nil
		}
	}
	return due, nil
}

// everyBindingOn checks that the newest succeeded run promoted seq and that
// each of its bindings was verified on it.
func (e *Engine) everyBindingOn(ctx context.Context, credential string, seq int64) error {
	runs, err := e.Store.Runs(ctx, credential, 0)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(runs, func(r Run) bool { return r.Status == RunSucceeded })
	if i < 0 {
		return nil // the current version was adopted, not rotated in: nothing to prove
	}
	if runs[i].NewSeq != seq {
		return fmt.Errorf("the newest successful run (%d) promoted version %d, not the current %d", runs[i].ID, runs[i].NewSeq, seq)
	}
	states, err := e.Store.Bindings(ctx, runs[i].ID)
	if err != nil {
		return err
	}
	for _, st := range states {
		if st.Status != BindingVerified {
			return fmt.Errorf("binding %s is %s in run %d", st.Binding.ID, st.Status, runs[i].ID)
		}
	}
	return nil
}
