package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Credential is what the engine needs to rotate one credential: where its
// tokens come from, where they go, and its policy.
type Credential struct {
	Name        string
	Application string
	Source      Source
	Targets     []Target // applied in this order (a secret before the pipeline that reads it)
	// Scopes every token must have beyond what the bindings ask for.
	Scopes      []string
	MinValidity time.Duration // a new token must live at least this long
	Grace       time.Duration // how long the previous token stays valid after promotion
	// RollbackDrain is how long the new token stays valid after a rollback
	// wrote the previous one back, before it is revoked (see drain).
	RollbackDrain       time.Duration
	AllowIdentityChange bool
	// MaxLifetime, when set, is an organisation's maximum lifetime of a
	// token: a new token must expire within it, or the organisation
	// blocks it on its resources.
	MaxLifetime time.Duration
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
	ErrMigrated      = errors.New("the credential was migrated to a CodeConnections connection: it is not rotated any more")
)

// TriggerMigrate is the Trigger of a migration run (rotor migrate): the
// engine neither starts nor resumes one, and a credential whose newest
// run is a finished migration at StepMigrated is not rotated again.
const TriggerMigrate = "migrate"

// StepMigrated is the last step of a migration run that moved every action
// of its credential off the token: the credential is migrated.
const StepMigrated Step = "migrated"

// Migrated reports whether runs (newest first) end in a finished migration
// of the whole credential.
func Migrated(runs []Run) (Run, bool) {
	for _, r := range runs {
		if r.Status == RunRunning {
			continue
		}
		return r, r.Trigger == TriggerMigrate && r.Step == StepMigrated && r.Status == RunSucceeded
	}
	return Run{}, false
}

// RunError is the error Rotate returns for a run that did not succeed. It
// wraps ErrRolledBack when the bindings were rolled back (the CLI exits 3),
// else ErrRunFailed or ErrRollbackStuck.
type RunError struct {
	Run Run
	Err error // ErrRolledBack, ErrRunFailed or ErrRollbackStuck
}

func (e *RunError) Error() string {
	return fmt.Sprintf("%s: run %d (%s): %s", e.Run.Credential, e.Run.ID, e.Run.Reason, e.Run.Error)
}

func (e *RunError) Unwrap() error { return e.Err }

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
		case err == nil && run.Trigger == TriggerMigrate:
			return fmt.Errorf("%s: %w: migration run %d stopped after step %q: 'rotor migrate %s' resumes it", c.Name, ErrOpenRun, run.ID, run.Step, c.Name)
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
		out, err = e.drive(withStepHook(ctx, e.Hook), c, run)
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

func (e *Engine) start(ctx context.Context, c Credential, opts Options) (Run, error) {
	versions, err := e.Store.Versions(ctx, c.Name)
	if err != nil {
		return Run{}, fmt.Errorf("%s: read versions: %w", c.Name, err)
	}
	runs, err := e.Store.Runs(ctx, c.Name, 1)
	if err != nil {
		return Run{}, fmt.Errorf("%s: read runs: %w", c.Name, err)
	}
	if m, ok := Migrated(runs); ok {
		return Run{}, fmt.Errorf("%s: %w (run %d)", c.Name, ErrMigrated, m.ID)
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

// forward performs the step after run.Step. This switch is the protocol's
// order (DESIGN.md): discover, mint, check, apply, verify, promote, each in
// steps.go. A step that fails records it (fail) and drive turns the run to
// rollback (rollback.go); retirement of the previous version comes after
// the grace period, outside the run (retire.go), and bindings left waiting
// move later (stragglers.go).
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
