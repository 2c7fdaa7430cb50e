package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/lease"
	"github.com/rotor-ci/rotor/internal/token"
)

// Credential is what the engine needs to rotate one credential: where its
// tokens come from, where they go, and its policy.
type Credential struct {
	Name        string
	Application string
	Source      Source
	Targets     []Target // applied in this order (a secret before the pipeline that reads it)
	// Scopes every token must have beyond what the bindings ask for.
	Scopes              []string
	MinValidity         time.Duration // a new token must live at least this long
	Grace               time.Duration // how long the previous token stays valid after promotion
	AllowIdentityChange bool
}

// Options change one Rotate call.
type Options struct {
	Trigger string // manual, schedule, api; recorded on the run
	// Resume allows continuing an unfinished run; without it Rotate refuses
	// to start while one exists (the CLI's --resume; the daemon always resumes).
	Resume bool
	// Bootstrap allows a first rotation when rotor knows no current token.
	// Such a run cannot roll back: a failure leaves bindings as they are.
	Bootstrap bool
	// StillDue, if set, is asked under the lease before a new run starts;
	// false makes Rotate return ErrNotDue. Schedulers use it so that two
	// replicas that both saw a credential due rotate it once.
	StillDue func(ctx context.Context) (bool, error)
}

// Event is one step as it happens, for progress output. It never holds a
// token value.
type Event struct {
	Credential string
	RunID      int64
	Step       string // discover, mint, check, apply, verify, promote, rollback, revoke, retire
	OK         bool
	Message    string
}

// Engine runs the rotation protocol. It is safe for concurrent use by
// different credentials; one credential's runs are serialised by the lease.
type Engine struct {
	Store  Store
	Sealer Sealer
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Holder names this process in leases and the audit log.
	Holder string
	// LeaseTTL is how long a lease lasts without renewal (default 30 s); the
	// engine renews it every third of that while a run is in flight.
	LeaseTTL time.Duration
	// Observe, if set, is told every step as it happens.
	Observe func(Event)
	// Hook, if set, is called after each persisted step with its name. The
	// torture harness uses it to crash the process at exact step boundaries.
	Hook func(step string)
	// RollbackAttempts bounds how often a failed rollback is retried within
	// one call before the run is left for a later resume (default 3).
	RollbackAttempts int
}

// Errors callers branch on.
var (
	ErrOpenRun       = errors.New("an unfinished run exists")
	ErrNoCurrent     = errors.New("rotor knows no current token for this credential")
	ErrRolledBack    = errors.New("rotation rolled back")
	ErrRunFailed     = errors.New("rotation failed")
	ErrRollbackStuck = errors.New("rollback incomplete")
	ErrNotDue        = errors.New("no longer due")
)

// RunError is the error Rotate returns for a run that did not succeed. Its
// ExitCode follows DESIGN.md: 3 when bindings were rolled back, 1 otherwise.
type RunError struct {
	Run Run
	Err error // ErrRolledBack, ErrRunFailed or ErrRollbackStuck
}

func (e *RunError) Error() string {
	return fmt.Sprintf("%s: run %d (%s): %s", e.Run.Credential, e.Run.ID, e.Run.Reason, e.Run.Error)
}
func (e *RunError) Unwrap() error { return e.Err }
func (e *RunError) ExitCode() int {
	if errors.Is(e.Err, ErrRolledBack) {
		return 3
	}
	return 1
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Engine) holder() string {
	if e.Holder != "" {
		return e.Holder
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

func (e *Engine) leaseTTL() time.Duration {
	if e.LeaseTTL > 0 {
		return e.LeaseTTL
	}
	return 30 * time.Second
}

// Rotate rotates c now, or resumes its unfinished run when opts.Resume is
// set. It returns the finished run; a run that did not succeed comes back
// with a *RunError.
func (e *Engine) Rotate(ctx context.Context, c Credential, opts Options) (Run, error) {
	var out Run
	err := e.withLease(ctx, c.Name, func(ctx context.Context) error {
		if err := e.tx(ctx, func(tx Tx) error {
			return tx.PutCredential(CredentialRecord{Name: c.Name, Application: c.Application, CreatedAt: e.now()})
		}); err != nil {
			return fmt.Errorf("record credential %s: %w", c.Name, err)
		}
		run, err := e.Store.OpenRun(ctx, c.Name)
		switch {
		case err == nil && !opts.Resume:
			return fmt.Errorf("%s: %w (run %d stopped after step %q): resume it with --resume", c.Name, ErrOpenRun, run.ID, run.Step)
		case err == nil:
			e.log().Info("resuming run", "credential", c.Name, "run", run.ID, "step", run.Step)
			_ = e.audit(ctx, nil, run, "run.resumed", map[string]any{"step": run.Step})
		case errors.Is(err, ErrNotFound):
			if opts.StillDue != nil {
				due, err := opts.StillDue(ctx)
				if err != nil {
					return fmt.Errorf("%s: is it still due: %w", c.Name, err)
				}
				if !due {
					return ErrNotDue
				}
			}
			if run, err = e.start(ctx, c, opts); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: read open run: %w", c.Name, err)
		}
		out, err = e.drive(ctx, c, run)
		return err
	})
	return out, err
}

// Resume finishes c's unfinished run, if there is one. It reports whether
// there was.
func (e *Engine) Resume(ctx context.Context, c Credential) (Run, bool, error) {
	if _, err := e.Store.OpenRun(ctx, c.Name); errors.Is(err, ErrNotFound) {
		return Run{}, false, nil
	} else if err != nil {
		return Run{}, false, err
	}
	run, err := e.Rotate(ctx, c, Options{Resume: true, Trigger: "resume"})
	return run, true, err
}

// withLease runs fn holding c's lease, renewing it in the background; if the
// lease is lost, fn's context is cancelled so that no two processes act on
// one credential (I5).
func (e *Engine) withLease(ctx context.Context, name string, fn func(context.Context) error) error {
	ttl := e.leaseTTL()
	// The lease is ours until at most ttl after the moment we asked for it
	// (the database sets its expiry after that moment). Past that, another
	// process may have taken it — and even released it again — so a late
	// renewal must not count: a process frozen past its lease (SIGSTOP, a
	// VM pause) stops instead of acting on a run someone else finished.
	// The guard reads the engine's clock: time.Now itself in production,
	// whose monotonic reading keeps counting while the process is stopped.
	clock := e.Now
	if clock == nil {
		clock = time.Now
	}
	asked := clock()
	if err := e.Store.AcquireLease(ctx, name, e.holder(), ttl); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ctx, g, cancel := lease.New(ctx, clock, asked, ttl)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := g.Check(); err != nil {
					e.log().Error("lost lease: stopping run", "credential", name, "err", err)
					return
				}
				asked := clock()
				if err := e.Store.AcquireLease(ctx, name, e.holder(), ttl); err != nil {
					e.log().Error("lost lease: stopping run", "credential", name, "err", err)
					g.Lose(fmt.Errorf("lease lost: %w", err))
					return
				}
				if err := g.Extend(asked, ttl); err != nil {
					e.log().Error("lost lease: stopping run", "credential", name, "err", err)
					return
				}
			}
		}
	}()
	// Deferred, so that a panic (the torture tests' simulated crash) stops
	// the renewer too; the lease itself is then left to expire, as after a
	// real crash.
	defer close(done)
	defer cancel(nil)
	err := fn(ctx)
	if lerr := g.Check(); lerr != nil && err == nil {
		err = lerr
	}
	// Release even if ctx was cancelled or the lease was lost: a release
	// deletes only this holder's row, never a lease another process took.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if rerr := e.Store.ReleaseLease(rctx, name, e.holder()); rerr != nil {
		e.log().Warn("release lease", "credential", name, "err", rerr)
	}
	return err
}

// ErrLeaseLost: the process held the lease too long without renewing it.
var ErrLeaseLost = lease.ErrLost

// tx is Store.Tx fenced by the run's lease: nothing is written once the
// lease may have lapsed.
func (e *Engine) tx(ctx context.Context, fn func(Tx) error) error {
	if err := leaseOK(ctx); err != nil {
		return err
	}
	return e.Store.Tx(ctx, func(tx Tx) error {
		if err := leaseOK(ctx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// leaseOK reports whether ctx's lease still holds (nil outside withLease).
func leaseOK(ctx context.Context) error { return lease.Check(ctx) }

func (e *Engine) start(ctx context.Context, c Credential, opts Options) (Run, error) {
	versions, err := e.Store.Versions(ctx, c.Name)
	if err != nil {
		return Run{}, fmt.Errorf("%s: read versions: %w", c.Name, err)
	}
	cur, hasCur := findState(versions, VersionCurrent)
	if !hasCur && !opts.Bootstrap {
		return Run{}, fmt.Errorf("%s: %w: record the token your targets hold now with 'rotor adopt %s --token-stdin' so that a failed rotation can roll back to it (or pass --bootstrap to rotate without a way back)", c.Name, ErrNoCurrent, c.Name)
	}
	now := e.now()
	run := Run{Credential: c.Name, Trigger: opts.Trigger, Step: StepStarted, Status: RunRunning, StartedAt: now, UpdatedAt: now}
	if hasCur {
		run.PrevSeq = cur.Seq
	}
	if run.Trigger == "" {
		run.Trigger = "manual"
	}
	err = e.tx(ctx, func(tx Tx) error {
		var err error
		if run, err = tx.CreateRun(run); err != nil {
			return err
		}
		return e.audit(ctx, tx, run, "run.started", map[string]any{"trigger": run.Trigger, "prev_seq": run.PrevSeq})
	})
	if err != nil {
		return Run{}, fmt.Errorf("%s: start run: %w", c.Name, err)
	}
	e.hook("started")
	return run, nil
}

// drive moves a run through the protocol until it finishes. Each step reads
// what it needs from the store, so drive works the same for a fresh run and
// for one resumed after a crash.
func (e *Engine) drive(ctx context.Context, c Credential, run Run) (Run, error) {
	s := &session{e: e, c: c}
	defer s.forget()
	for run.Status == RunRunning {
		if err := ctx.Err(); err != nil {
			return run, context.Cause(ctx)
		}
		var err error
		if run.Failing {
			run, err = s.rollback(ctx, run)
		} else {
			run, err = s.forward(ctx, run)
		}
		if err != nil {
			return run, err
		}
	}
	switch run.Status {
	case RunSucceeded:
		return run, nil
	case RunRolledBack:
		return run, &RunError{Run: run, Err: ErrRolledBack}
	default:
		return run, &RunError{Run: run, Err: ErrRunFailed}
	}
}

// session holds one drive's in-memory state: opened token values (never
// persisted in the clear) and the targets' bindings.
type session struct {
	e      *Engine
	c      Credential
	tokens map[int64]token.Token
}

func (s *session) forget() { clear(s.tokens) }

// token opens version seq of the credential, caching it for this drive.
func (s *session) token(ctx context.Context, seq int64) (token.Token, Version, error) {
	versions, err := s.e.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return token.Token{}, Version{}, err
	}
	for _, v := range versions {
		if v.Seq != seq {
			continue
		}
		if t, ok := s.tokens[seq]; ok {
			return t, v, nil
		}
		t, err := s.e.Sealer.Open(v.Sealed)
		if err != nil {
			return token.Token{}, v, fmt.Errorf("open version %d: %w", seq, err)
		}
		if s.tokens == nil {
			s.tokens = map[int64]token.Token{}
		}
		s.tokens[seq] = t
		return t, v, nil
	}
	return token.Token{}, Version{}, fmt.Errorf("version %d: %w", seq, ErrNotFound)
}

// forward performs the step after run.Step.
func (s *session) forward(ctx context.Context, run Run) (Run, error) {
	switch run.Step {
	case StepStarted:
		return s.discover(ctx, run)
	case StepDiscovered:
		return s.mint(ctx, run)
	case StepMinted:
		return s.check(ctx, run)
	case StepChecked:
		return s.apply(ctx, run)
	case StepApplied:
		return s.verify(ctx, run)
	case StepVerified:
		return s.promote(ctx, run)
	}
	return run, fmt.Errorf("run %d: unknown step %q", run.ID, run.Step)
}

func (s *session) discover(ctx context.Context, run Run) (Run, error) {
	var all []BindingState
	seen := map[string]bool{}
	for slot, t := range s.c.Targets {
		bs, err := t.Discover(ctx)
		if err != nil {
			return s.fail(ctx, run, "DiscoverFailed", fmt.Errorf("discover %s target: %w", t.Type(), err))
		}
		for _, b := range bs {
			if seen[b.ID] {
				return s.fail(ctx, run, "DiscoverFailed", fmt.Errorf("binding %s is listed by two targets of this credential", b.ID))
			}
			seen[b.ID] = true
			b.Slot = slot
			all = append(all, BindingState{Binding: b, Status: BindingPending, UpdatedAt: s.e.now()})
		}
	}
	if len(all) == 0 {
		return s.fail(ctx, run, "NoBindings", errors.New("the credential's targets found nothing to update"))
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
	req := Requirements{Scopes: slices.Clone(c.Scopes), MinValidity: c.MinValidity}
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
		return s.fail(ctx, run, "MintFailed", fmt.Errorf("mint: %w", err))
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
	sealed, err := s.e.Sealer.Seal(m.Token)
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
	s.e.observe(run, "check", true, fmt.Sprintf("identity %s, scopes %s, %d repositories readable", orDash(id.Login), orDash(strings.Join(id.Scopes, ",")), len(req.Repositories)))
	return s.advance(ctx, run, StepChecked, func(tx Tx, _ *Run) error {
		return tx.UpdateVersion(v)
	}, "checked", map[string]any{"fingerprint": v.Fingerprint, "identity": id.Login, "scopes": id.Scopes, "expires_at": id.ExpiresAt})
}

// apply writes the new version to every binding that does not hold it yet,
// target by target in config order.
func (s *session) apply(ctx context.Context, run Run) (Run, error) {
	tok, _, err := s.token(ctx, run.NewSeq)
	if err != nil {
		return run, err
	}
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return run, err
	}
	for slot := range s.c.Targets {
		// Failed bindings are here only when a run was interrupted (a
		// failure proper turns the run to rollback): apply again.
		todo := inSlot(states, slot, BindingPending, BindingApplying, BindingFailed)
		if len(todo) == 0 {
			continue
		}
		// Mark before sending: a crash from here on leaves bindings that may
		// hold either version, and resume and rollback must know it.
		if err := s.markApplying(ctx, run.ID, todo); err != nil {
			return run, err
		}
		failed := s.runTarget(ctx, run, "apply", slot, todo, tok, s.c.Targets[slot].Apply, BindingApplied)
		if len(failed) > 0 {
			return s.fail(ctx, run, "ApplyFailed", failed[0])
		}
	}
	return s.advance(ctx, run, StepApplied, nil, "applied", nil)
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
	for _, st := range todo {
		r, reported := results[st.Binding.ID]
		if !reported {
			r.Err = fmt.Errorf("%s: target reported no result", st.Binding.ID)
		}
		st.UpdatedAt = now
		if r.Err != nil {
			st.Status, st.Error = BindingFailed, s.scrub(r.Err.Error())
			if r.Unchanged && okStatus == BindingApplied {
				// Only an apply refusal proves the old token is still there.
				st.Status = BindingRefused
			}
			failed = append(failed, fmt.Errorf("%s %s: %s", step, st.Binding.ID, st.Error))
		} else {
			st.Status, st.Error = okStatus, ""
		}
		out = append(out, st)
	}
	// A failed verify leaves the binding holding the new version: keep it
	// marked so that rollback knows to restore it.
	if err := s.putBindingStates(ctx, run.ID, out); err != nil {
		failed = append(failed, fmt.Errorf("record %s results: %w", step, err))
	}
	s.e.observe(run, step, len(failed) == 0, fmt.Sprintf("%s target: %d/%d binding(s) ok", s.c.Targets[slot].Type(), len(todo)-countFailed(out), len(todo)))
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

func (s *session) promote(ctx context.Context, run Run) (Run, error) {
	states, err := s.e.Store.Bindings(ctx, run.ID)
	if err != nil {
		return run, err
	}
	for _, st := range states {
		if st.Status != BindingVerified {
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
			default:
				continue
			}
			if err := tx.UpdateVersion(v); err != nil {
				return err
			}
		}
		return nil
	}, "promoted", map[string]any{"seq": run.NewSeq, "prev_seq": run.PrevSeq, "grace": s.c.Grace.String()})
	if err == nil {
		s.e.observe(run, "promote", true, fmt.Sprintf("version %d %s is current; version %d retires after %s", run.NewSeq, fp, run.PrevSeq, s.c.Grace))
	}
	return run, err
}

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
				call := t.Apply
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

// advance persists run at step together with extra writes and an audit
// record, in one transaction, then calls the hook.
// extra may change the run (it gets the copy that is persisted).
func (s *session) advance(ctx context.Context, run Run, step Step, extra func(Tx, *Run) error, event string, detail map[string]any) (Run, error) {
	run.Step, run.UpdatedAt = step, s.e.now()
	if err := leaseOK(ctx); err != nil {
		return run, err
	}
	err := s.e.tx(ctx, func(tx Tx) error {
		if err := leaseOK(ctx); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(tx, &run); err != nil {
				return err
			}
		}
		if err := tx.UpdateRun(run); err != nil {
			return err
		}
		return s.e.audit(ctx, tx, run, event, detail)
	})
	if err != nil {
		return run, fmt.Errorf("%s: persist step %s: %w", run.Credential, event, err)
	}
	s.e.hook(event)
	return run, nil
}

// scrub removes any token value this session holds from a message: targets
// and sources sanitise their errors, and this is the belt to their braces.
func (s *session) scrub(msg string) string {
	for _, t := range s.tokens {
		if !t.IsZero() {
			msg = strings.ReplaceAll(msg, t.Reveal(), t.Redacted())
		}
	}
	return msg
}

func (e *Engine) hook(step string) {
	if e.Hook != nil {
		e.Hook(step)
	}
}

func (e *Engine) observe(run Run, step string, ok bool, msg string) {
	if e.Observe != nil {
		e.Observe(Event{Credential: run.Credential, RunID: run.ID, Step: step, OK: ok, Message: msg})
	}
}

// audit appends one record, in tx if given or in a transaction of its own.
func (e *Engine) audit(ctx context.Context, tx Tx, run Run, event string, detail map[string]any) error {
	var d string
	if len(detail) > 0 {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit detail: %w", err)
		}
		d = string(b)
	}
	rec := audit.Record{Time: e.now(), Credential: run.Credential, RunID: run.ID, Event: event, Actor: e.holder(), Detail: d}
	if tx != nil {
		_, err := tx.AppendAudit(rec)
		return err
	}
	return e.tx(ctx, func(tx Tx) error { _, err := tx.AppendAudit(rec); return err })
}

func findState(versions []Version, st VersionState) (Version, bool) {
	for _, v := range versions {
		if v.State == st {
			return v, true
		}
	}
	return Version{}, false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
