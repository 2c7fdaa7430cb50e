package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rotor-ci/rotor/internal/token"
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
		versions, err := e.Store.Versions(ctx, c.Name)
		if err != nil {
			return err
		}
		cur, ok := findState(versions, VersionCurrent)
		if !ok {
			return nil
		}
		now := e.now()
		var due []Version
		for _, v := range versions {
			if v.State == VersionPrevious && !now.Before(v.RetireAfter) {
				due = append(due, v)
			}
		}
		if len(due) == 0 {
			return nil
		}
		if err := e.everyBindingOn(ctx, c.Name, cur.Seq); err != nil {
			e.log().Warn("not retiring: a binding may still hold an old version", "credential", c.Name, "err", err)
			return nil
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
			err = e.Store.Tx(ctx, func(tx Tx) error {
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

// Adopt records tok, the token c's targets hold today, as c's current
// version, after checking it. It is how rotor learns a credential it did
// not create, so that its first rotation can roll back and retire it.
func (e *Engine) Adopt(ctx context.Context, c Credential, tok token.Token) (Version, error) {
	var out Version
	err := e.withLease(ctx, c.Name, func(ctx context.Context) error {
		versions, err := e.Store.Versions(ctx, c.Name)
		if err != nil {
			return err
		}
		if cur, ok := findState(versions, VersionCurrent); ok {
			return fmt.Errorf("%s already has a current version (%d, %s): rotate it instead", c.Name, cur.Seq, cur.Fingerprint)
		}
		fp := tok.Fingerprint()
		for _, v := range versions {
			if v.Fingerprint == fp {
				return fmt.Errorf("%s: this token is version %d (%s) already", c.Name, v.Seq, v.State)
			}
		}
		var bindings []Binding
		for _, t := range c.Targets {
			bs, err := t.Discover(ctx)
			if err != nil {
				return fmt.Errorf("%s: discover %s target: %w", c.Name, t.Type(), err)
			}
			bindings = append(bindings, bs...)
		}
		req := RequirementsOf(c, bindings)
		req.MinValidity = 0 // the token in use today is adopted as it is
		id, err := c.Source.Check(ctx, tok, req)
		if err != nil {
			return fmt.Errorf("%s: check: %w", c.Name, err)
		}
		sealed, err := e.Sealer.Seal(tok)
		if err != nil {
			return fmt.Errorf("seal token: %w", err)
		}
		v := Version{Credential: c.Name, Fingerprint: fp, Kind: token.KindOf(tok.Reveal()), Sealed: sealed, State: VersionCurrent,
			Identity: id.Login, CreatedAt: e.now(), ExpiresAt: id.ExpiresAt}
		return e.Store.Tx(ctx, func(tx Tx) error {
			if err := tx.PutCredential(CredentialRecord{Name: c.Name, Application: c.Application, CreatedAt: e.now()}); err != nil {
				return err
			}
			if out, err = tx.AddVersion(v); err != nil {
				return err
			}
			return e.audit(ctx, tx, Run{Credential: c.Name}, "adopted", map[string]any{"seq": out.Seq, "fingerprint": fp, "identity": id.Login})
		})
	})
	return out, err
}
