package rotation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// The forward steps of the protocol, in order (forward, engine.go, calls
// them): discover the bindings, mint the new version, check it, apply it to
// every binding, verify each one, promote it. Each persists its outcome
// before the next begins.

func (s *session) discover(ctx context.Context, run Run) (Run, error) {
	var all []BindingState
	var errs []error
	seen := map[string]bool{}
	for slot, t := range s.c.Targets {
		bs, err := t.Discover(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("discover %s target: %w", t.Type(), err))
			continue
		}
		for _, b := range bs {
			if seen[b.ID] {
				errs = append(errs, fmt.Errorf("binding %s is listed by two targets of this credential", b.ID))
				continue
			}
			seen[b.ID] = true
			b.Slot = slot
			all = append(all, BindingState{Binding: b, Status: BindingPending, UpdatedAt: s.e.now()})
		}
	}
	if len(errs) == 0 {
		var err error
		if all, err = s.vet(ctx, all); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Everything the run can know it would refuse, before a token is
		// asked for or minted and before anything is written.
		return s.fail(ctx, run, "DiscoverFailed", errors.Join(errs...))
	}
	if len(all) == 0 {
		return s.fail(ctx, run, "NoBindings", errors.New("the credential's targets found nothing to update"))
	}
	if err := s.sharedInFlight(ctx, all); err != nil {
		return s.fail(ctx, run, "SharedInFlight", err)
	}
	s.e.observe(run, "discover", true, fmt.Sprintf("%d binding(s)", len(all)))
	return s.advance(ctx, run, StepDiscovered, func(tx Tx, _ *Run) error {
		return tx.PutBindings(run.ID, all)
	}, "discovered", map[string]any{"bindings": len(all)})
}

func (s *session) requirements(ctx context.Context, run Run) (Requirements, error) {
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return Requirements{}, err
	}
	bindings := make([]Binding, len(states))
	for i, st := range states {
		bindings[i] = st.Binding
	}
	return RequirementsOf(s.c, bindings), nil
}

// RequirementsOf is what a token must satisfy to serve every binding.
func RequirementsOf(c Credential, bindings []Binding) Requirements {
	req := Requirements{Scopes: slices.Clone(c.Scopes), MinValidity: c.MinValidity, MaxLifetime: c.MaxLifetime}
	for _, b := range bindings {
		req.Scopes = append(req.Scopes, b.Scopes...)
		req.Repositories = append(req.Repositories, b.Repositories...)
	}
	slices.Sort(req.Scopes)
	slices.Sort(req.Repositories)
	req.Scopes = slices.Compact(req.Scopes)
	req.Repositories = slices.Compact(req.Repositories)
	return req
}

func (s *session) mint(ctx context.Context, run Run) (Run, error) {
	req, err := s.requirements(ctx, run)
	if err != nil {
		return run, err
	}
	if err := leaseOK(ctx); err != nil {
		return run, err
	}
	m, err := s.c.Source.Mint(ctx, req)
	if err != nil {
		reason := "MintFailed"
		if errors.Is(err, ErrPersonNeeded) {
			reason = "PersonNeeded"
		}
		return s.fail(ctx, run, reason, fmt.Errorf("mint: %w", err))
	}
	run, err = s.record(ctx, run, m)
	if err != nil && m.ByRotor {
		// The token exists in GitHub and nowhere in rotor: revoke it now,
		// or it stays live and unused until it expires (I3). The run's
		// context may be what failed (shutdown, a lost lease), so this call
		// gets a fresh one; revoking a token nobody holds is safe whoever
		// holds the lease.
		s.discard(m.Token)
	}
	return run, err
}

// discard revokes a minted token that could not be recorded.
func (s *session) discard(t token.Token) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.c.Source.Revoke(ctx, t); err != nil {
		s.e.log().Error("revoke a minted token that could not be recorded", "credential", s.c.Name, "fingerprint", t.Fingerprint(), "err", s.scrub(err.Error()))
		return
	}
	s.e.log().Warn("revoked a minted token that could not be recorded", "credential", s.c.Name, "fingerprint", t.Fingerprint())
}

// record seals a freshly minted token and persists it as the run's pending
// version.
func (s *session) record(ctx context.Context, run Run, m Minted) (Run, error) {
	versions, err := s.e.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return run, err
	}
	fp := m.Token.Fingerprint()
	for _, v := range versions {
		if v.Fingerprint == fp {
			// Nothing to revoke: this value is already known, and revoking
			// it could kill the token the bindings hold.
			return s.fail(ctx, run, "TokenReused", fmt.Errorf("the new token is version %d of this credential (%s): create a new token in GitHub", v.Seq, v.State))
		}
	}
	sealed, err := s.e.Sealer.Seal(ctx, SealContext{Credential: s.c.Name, Fingerprint: fp}, m.Token)
	if err != nil {
		return run, fmt.Errorf("seal new token: %w", err)
	}
	v := Version{Credential: s.c.Name, Fingerprint: fp, Kind: token.KindOf(m.Token.Reveal()), Sealed: sealed,
		State: VersionPending, ByRotor: m.ByRotor, CreatedAt: s.e.now(), ExpiresAt: m.ExpiresAt}
	run, err = s.advance(ctx, run, StepMinted, func(tx Tx, run *Run) error {
		added, err := tx.AddVersion(v)
		run.NewSeq = added.Seq
		return err
	}, "minted", map[string]any{"fingerprint": fp, "by_rotor": m.ByRotor, "source": s.c.Source.Type()})
	if err == nil {
		if s.tokens == nil {
			s.tokens = map[int64]token.Token{}
		}
		s.tokens[run.NewSeq] = m.Token
		s.e.observe(run, "mint", true, fmt.Sprintf("version %d %s (%s)", run.NewSeq, fp, s.c.Source.Type()))
	}
	return run, err
}

func (s *session) check(ctx context.Context, run Run) (Run, error) {
	tok, v, err := s.token(ctx, run.NewSeq)
	if err != nil {
		return run, err
	}
	req, err := s.requirements(ctx, run)
	if err != nil {
		return run, err
	}
	id, err := s.c.Source.Check(ctx, tok, req)
	if err != nil {
		return s.fail(ctx, run, "CheckFailed", fmt.Errorf("check: %w", err))
	}
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(s.e.now().Add(s.c.MinValidity)) {
		return s.fail(ctx, run, "CheckFailed", fmt.Errorf("check: %w: the token expires at %s, sooner than the required %s from now", ErrRejected, id.ExpiresAt.Format(time.RFC3339), s.c.MinValidity))
	}
	if err := withinLifetime(id.ExpiresAt, s.e.now(), s.c.MaxLifetime); err != nil {
		return s.fail(ctx, run, "CheckFailed", fmt.Errorf("check: %w", err))
	}
	if run.PrevSeq != 0 && !s.c.AllowIdentityChange {
		_, prev, err := s.token(ctx, run.PrevSeq)
		if err != nil {
			return run, err
		}
		if prev.Identity != "" && id.Login != "" && prev.Identity != id.Login && prev.Kind == v.Kind {
			return s.fail(ctx, run, "IdentityChanged", fmt.Errorf("check: %w: the new token belongs to %q but the current one to %q (pass --allow-identity-change if that is intended)", ErrRejected, id.Login, prev.Identity))
		}
	}
	v.Identity = id.Login
	if v.ExpiresAt.IsZero() {
		v.ExpiresAt = id.ExpiresAt
	}
	s.e.observe(run, "check", true, fmt.Sprintf("identity %s, scopes %s, %d repositories readable", cmp.Or(id.Login, "-"), cmp.Or(strings.Join(id.Scopes, ","), "-"), len(req.Repositories)))
	return s.advance(ctx, run, StepChecked, func(tx Tx, _ *Run) error {
		return tx.UpdateVersion(v)
	}, "checked", map[string]any{"fingerprint": v.Fingerprint, "identity": id.Login, "scopes": id.Scopes, "expires_at": id.ExpiresAt})
}

// withinLifetime refuses a token that an organisation's maximum lifetime
// (0: none) would block: GitHub blocks a token whose lifetime, creation to
// expiry, is longer, and one without an expiry. The token was created
// before now, so one that expires later than maxLife from now is surely
// over.
func withinLifetime(expires, now time.Time, maxLife time.Duration) error {
	switch {
	case maxLife <= 0:
		return nil
	case expires.IsZero():
		return fmt.Errorf("%w: the token has no expiration, and the organisation's maximum lifetime (%s) blocks a token without one: create one that expires within %s",
			ErrRejected, inDays(maxLife), inDays(maxLife))
	case expires.After(now.Add(maxLife)):
		return fmt.Errorf("%w: the token expires at %s, more than the organisation's maximum lifetime (%s) from now, so the organisation would block it: create one that expires within %s",
			ErrRejected, expires.UTC().Format(time.RFC3339), inDays(maxLife), inDays(maxLife))
	}
	return nil
}

// inDays writes a lifetime as the config and GitHub's policy page do:
// whole days as 90d.
func inDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// apply writes the new version to every binding that does not hold it yet,
// target by target in config order. A binding whose place is busy (a
// pipeline running a deployment) may come back waiting: it keeps the
// previous version and moves later (stragglers.go).
func (s *session) apply(ctx context.Context, run Run) (Run, error) {
	tok, _, err := s.token(ctx, run.NewSeq)
	if err != nil {
		return run, err
	}
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return run, err
	}
	held, err := s.heldExpiry(ctx, run.NewSeq)
	if err != nil {
		return run, err
	}
	for slot := range s.c.Targets {
		// Failed bindings are here only when a run was interrupted (a
		// failure proper turns the run to rollback): apply again.
		todo := inSlot(states, slot, BindingPending, BindingApplying, BindingFailed, BindingWaiting)
		if len(todo) == 0 {
			continue
		}
		// Mark before sending: a crash from here on leaves bindings that may
		// hold either version, and resume and rollback must know it.
		if err := s.markApplying(ctx, run.ID, todo); err != nil {
			return run, err
		}
		failed := s.runTarget(ctx, run, "apply", slot, todo, tok, s.applier(slot, WaitBounds{HeldExpires: held}), BindingApplied)
		if len(failed) > 0 {
			return s.fail(ctx, run, "ApplyFailed", failed[0])
		}
		if err := s.pendingApply(ctx, run); err != nil {
			return run, err
		}
	}
	detail, err := s.applyDetail(ctx, run)
	if err != nil {
		return run, err
	}
	return s.advance(ctx, run, StepApplied, nil, "applied", detail)
}

func (s *session) verify(ctx context.Context, run Run) (Run, error) {
	tok, _, err := s.token(ctx, run.NewSeq)
	if err != nil {
		return run, err
	}
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return run, err
	}
	for slot := range s.c.Targets {
		todo := inSlot(states, slot, BindingApplied, BindingFailed)
		if len(todo) == 0 {
			continue
		}
		failed := s.runTarget(ctx, run, "verify", slot, todo, tok, s.c.Targets[slot].Verify, BindingVerified)
		if len(failed) > 0 {
			return s.fail(ctx, run, "VerifyFailed", failed[0])
		}
	}
	return s.advance(ctx, run, StepVerified, nil, "verified", nil)
}

func (s *session) promote(ctx context.Context, run Run) (Run, error) {
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return run, err
	}
	var waiting []string
	for _, st := range states {
		switch st.Status {
		case BindingVerified:
		case BindingWaiting:
			// A straggler keeps the previous version, which therefore is
			// not retired until it moves (I2, I8).
			waiting = append(waiting, st.Binding.ID)
		default:
			// Never promote (and so never start the old version's grace)
			// while a binding is unproven (I2).
			return s.fail(ctx, run, "VerifyFailed", fmt.Errorf("binding %s is %s, not verified", st.Binding.ID, st.Status))
		}
	}
	versions, err := s.e.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return run, err
	}
	now := s.e.now()
	run.Status, run.Step, run.FinishedAt = RunSucceeded, StepPromoted, now
	var fp string
	run, err = s.advance(ctx, run, StepPromoted, func(tx Tx, _ *Run) error {
		for _, v := range versions {
			switch {
			case v.Seq == run.NewSeq:
				v.State = VersionCurrent
				fp = v.Fingerprint
			case v.State == VersionCurrent:
				v.State = VersionPrevious
				v.RetireAfter = now.Add(s.c.Grace)
			case v.State == VersionPrevious && v.RetireAfter.Before(now.Add(s.c.Grace)):
				// A straggler of an earlier run may have moved off it just
				// now, in this run: its grace starts again (stragglers.go).
				v.RetireAfter = now.Add(s.c.Grace)
			default:
				continue
			}
			if err := tx.UpdateVersion(v); err != nil {
				return err
			}
		}
		return nil
	}, "promoted", map[string]any{"seq": run.NewSeq, "prev_seq": run.PrevSeq, "grace": s.c.Grace.String(), "waiting": len(waiting)})
	if err == nil {
		msg := fmt.Sprintf("version %d %s is current; version %d retires after %s", run.NewSeq, fp, run.PrevSeq, s.c.Grace)
		if len(waiting) > 0 {
			msg = fmt.Sprintf("version %d %s is current; %d binding(s) still hold version %d and move as soon as their pipeline is idle (%s); version %d retires only after they have", run.NewSeq, fp, len(waiting), run.PrevSeq, strings.Join(waiting, ", "), run.PrevSeq)
		}
		s.e.observe(run, "promote", true, msg)
	}
	return run, err
}
