package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

// errShutdown is the cause a run's context carries when a shutdown stopped
// it between steps.
var errShutdown = errors.New("rotor serve is shutting down: the run resumes at next start")

// scheduleLoop looks at every credential at start (which resumes runs a
// crash left open) and then every tick, or at once when kicked.
func (s *Server) scheduleLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	s.tick(ctx)
	s.ready.Store(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		s.tick(ctx)
		s.flushRevocations(ctx)
	}
}

// flushRevocations sends queued revocations as the hourly budget allows
// (queued by any run of any replica) and confirms them.
func (s *Server) flushRevocations(ctx context.Context) {
	q := s.deps.Revocations
	if q == nil || ctx.Err() != nil {
		return
	}
	if rep, err := q.Flush(ctx); err != nil {
		s.log.Warn("revocation queue: will retry", "err", err)
	} else if rep.Calls > 0 || len(rep.Alive) > 0 {
		s.log.Info("revocation queue", "calls", rep.Calls, "sent", rep.Sent, "confirmed", rep.Confirmed, "alive", len(rep.Alive), "queued", rep.Queued)
	}
}

// wake asks the scheduler to look now.
func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// tick decides for each credential and starts what is due.
func (s *Server) tick(ctx context.Context) {
	for i := range s.cfg.Credentials {
		if ctx.Err() != nil || s.draining.Load() {
			return
		}
		cc := &s.cfg.Credentials[i]
		now := s.opts.Now().UTC()
		v, err := status.One(ctx, *cc, s.deps.Store, now)
		if err != nil {
			s.m.storeError()
			s.log.Error("read credential state: will retry", "credential", cc.Name, "err", err)
			continue
		}
		p := status.Policy(*cc)
		cs := s.snapshot(cc.Name)
		a := decide(p, v, cs.flags, now)
		s.update(cc.Name, func(c *credState) { c.Remind = a.Remind })
		if a.Remind != "" {
			s.alert.Send(reminder(*cc, v, a))
		}
		if al, ok := expiryAlert(p, v, now); ok && !cs.InFlight {
			s.alert.Send(al)
		}
		if a.Run == runNone && !a.Retire && !a.Settle {
			continue
		}
		s.start(ctx, cc, a)
	}
}

// start runs a job for cc on a free worker, or leaves it for a later tick
// when every worker is busy: one slow credential never blocks the loop.
func (s *Server) start(ctx context.Context, cc *config.Credential, a action) {
	select {
	case s.sem <- struct{}{}:
	default:
		s.log.Debug("all workers busy; credential waits for the next tick", "credential", cc.Name)
		return
	}
	s.update(cc.Name, func(c *credState) { c.InFlight, c.RunID = true, 0 })
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		defer func() { <-s.sem }()
		defer s.update(cc.Name, func(c *credState) {
			c.InFlight, c.RunID = false, 0
			for _, w := range c.waiters {
				close(w)
			}
			c.waiters = nil
		})
		if s.runJob(ctx, cc, a) {
			s.wake() // look again at once: retirement or another due credential
		}
	}()
}

// jobContext is a run's context: not cancelled by the shutdown itself (the
// step in flight must finish and persist), but at the next step boundary
// (see the engine hook in engineFor) or when the shutdown stops waiting.
func (s *Server) jobContext(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	jctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	hard := s.hardStop
	if hard == nil {
		hard = ctx
	}
	stop := context.AfterFunc(hard, func() { cancel(errShutdown) })
	return jctx, func(cause error) { stop(); cancel(cause) }
}

// engineFor copies the engine template for one credential's run, chaining
// Observe (run id, progress log) and Hook (stop at the next step boundary
// once a shutdown began).
func (s *Server) engineFor(name string, cancel context.CancelCauseFunc) *rotation.Engine {
	eng := *s.deps.Engine
	observe, hook := eng.Observe, eng.Hook
	eng.Observe = func(e rotation.Event) {
		if observe != nil {
			observe(e)
		}
		s.update(name, func(c *credState) {
			if c.RunID == 0 && e.RunID != 0 {
				c.RunID = e.RunID
				for _, w := range c.waiters {
					w <- e.RunID
					close(w)
				}
				c.waiters = nil
			}
		})
		lvl := "ok"
		if !e.OK {
			lvl = "failed"
		}
		s.log.Info("step", "credential", e.Credential, "run", e.RunID, "step", e.Step, "result", lvl, "message", e.Message)
	}
	eng.Hook = func(step string) {
		if hook != nil {
			hook(step)
		}
		if s.draining.Load() {
			cancel(errShutdown)
		}
	}
	return &eng
}

// runJob retires what is due and runs (or resumes) a rotation. It reports
// whether a run finished, so that the scheduler looks again at once; after
// anything else (a lease held elsewhere, an error) it waits for the tick.
func (s *Server) runJob(ctx context.Context, cc *config.Credential, a action) bool {
	jctx, cancel := s.jobContext(ctx)
	defer cancel(nil)
	cred, err := s.deps.Credential(jctx, cc)
	if err != nil {
		s.localFailure(cc.Name, fmt.Errorf("build credential: %w", err), 0)
		return false
	}
	eng := s.engineFor(cc.Name, cancel)
	if a.Settle {
		s.settle(jctx, eng, cred)
	}
	if a.Retire {
		retired, err := eng.Retire(jctx, cred)
		switch {
		case err == nil:
			for _, v := range retired {
				s.log.Info("retired previous version", "credential", cc.Name, "seq", v.Seq, "fingerprint", v.Fingerprint, "manual", v.Note != "")
				if v.Note != "" {
					s.alert.Send(alert.Alert{Event: alert.EventRetireFailed, Credential: cc.Name, Severity: alert.Warning,
						Message: fmt.Sprintf("version %d (%s) could not be revoked through the API; delete it by hand: %s", v.Seq, v.Fingerprint, v.Note)})
				}
			}
		case errors.Is(err, rotation.ErrLeaseHeld), errors.Is(err, rotation.ErrLeaseLost), jctx.Err() != nil:
		default:
			s.m.apiError("github")
			s.log.Error("retire previous versions", "credential", cc.Name, "err", err)
			s.alert.Send(alert.Alert{Event: alert.EventRetireFailed, Credential: cc.Name, Severity: alert.Warning, Message: "retiring the previous token failed: " + err.Error()})
		}
	}
	if a.Run == runNone || jctx.Err() != nil {
		return false
	}
	opts := rotation.Options{Trigger: "schedule", Resume: true}
	switch {
	case a.Run == runResume:
		opts.Trigger = "resume"
	case a.Reason == "Requested":
		opts.Trigger = "api"
	default:
		// Another replica may have rotated it since this tick looked.
		opts.StillDue = func(ctx context.Context) (bool, error) {
			now := s.opts.Now().UTC()
			v, err := status.One(ctx, *cc, s.deps.Store, now)
			if err != nil {
				return false, err
			}
			f := s.snapshot(cc.Name).flags
			f.InFlight = false
			return decide(status.Policy(*cc), v, f, now).Run != runNone, nil
		}
	}
	s.log.Info("rotating", "credential", cc.Name, "trigger", opts.Trigger, "reason", a.Reason)
	started := time.Now()
	run, err := eng.Rotate(jctx, cred, opts)
	s.finished(jctx, cc, run, err, time.Since(started))
	return run.Status == rotation.RunSucceeded || run.Status == rotation.RunFailed || run.Status == rotation.RunRolledBack
}

// settle moves the bindings still waiting for their pipeline whose pipeline
// is idle now (it does not wait: the next tick looks again), or updates
// them anyway when the token they hold is about to expire (on_expiry).
func (s *Server) settle(ctx context.Context, eng *rotation.Engine, cred rotation.Credential) {
	run, left, err := eng.MoveStragglers(ctx, cred, rotation.MoveOptions{NoWait: true})
	switch {
	case errors.Is(err, rotation.ErrLeaseHeld), errors.Is(err, rotation.ErrLeaseLost), errors.Is(err, rotation.ErrOpenRun), ctx.Err() != nil:
		return
	case err != nil:
		s.m.storeErrorIf(err)
		s.log.Error("move stragglers", "credential", cred.Name, "err", err)
		return
	}
	s.countStopped(ctx, cred.Name, run.ID)
	var failed []string
	for _, st := range left {
		if st.Status != rotation.BindingWaiting {
			failed = append(failed, st.Binding.ID+": "+st.Error)
		}
	}
	s.log.Info("stragglers", "credential", cred.Name, "run", run.ID, "left", len(left), "failed", len(failed))
	if len(failed) > 0 {
		s.alert.Send(alert.Alert{Event: alert.EventRotationFailed, Credential: cred.Name, RunID: run.ID, Severity: alert.Warning,
			Message: fmt.Sprintf("%d binding(s) could not be moved to version %d (they keep the previous version, which stays valid; rotor retries every tick): %s", len(failed), run.NewSeq, strings.Join(failed, "; "))})
	}
}

// finished records a run's outcome: metrics, flags and alerts.
func (s *Server) finished(jctx context.Context, cc *config.Credential, run rotation.Run, err error, took time.Duration) {
	name := cc.Name
	var re *rotation.RunError
	switch {
	case err == nil:
		s.m.finished(run, took)
		s.countStopped(jctx, name, run.ID)
		s.update(name, func(c *credState) {
			c.flags = flags{InFlight: c.InFlight}
			c.LastError, c.ErrorAt = "", time.Time{}
		})
		for _, ev := range []string{alert.EventRotationFailed, alert.EventRolledBack, alert.EventRollbackStuck, alert.EventTokenBroken, alert.EventTokenExpiring} {
			s.alert.Forget(name, ev)
		}
		s.log.Info("rotated", "credential", name, "run", run.ID, "version", run.NewSeq, "took", took.Round(time.Millisecond))
	case errors.Is(err, rotation.ErrNotDue):
		s.log.Debug("no longer due (another replica rotated it)", "credential", name)
	case errors.Is(err, rotation.ErrLeaseHeld):
		s.log.Info("another rotor process holds the credential; leaving it to them", "credential", name)
	case errors.Is(err, rotation.ErrLeaseLost):
		s.log.Warn("this process stalled past its lease; another may have taken the run over", "credential", name, "run", run.ID)
	case jctx.Err() != nil:
		s.log.Info("run stopped by shutdown; it resumes at next start", "credential", name, "run", run.ID, "step", run.Step)
	case errors.As(err, &re):
		s.m.finished(re.Run, took)
		s.countStopped(jctx, name, re.Run.ID)
		s.countAPIErrors(jctx, re.Run)
		s.update(name, func(c *credState) { c.Requested, c.LastError, c.ErrorAt = false, re.Error(), s.opts.Now() })
		if errors.Is(err, rotation.ErrRollbackStuck) {
			s.localFailure(name, err, re.Run.ID)
		}
		a, _ := alert.ForRun(name, err)
		s.alert.Send(a)
		s.log.Error("rotation did not succeed", "credential", name, "run", re.Run.ID, "status", re.Run.Status, "reason", re.Run.Reason, "err", re.Run.Error)
	default:
		// No finished run: the store was locked or unwritable, or the engine
		// could not start. The run, if any, stays open and is resumed.
		s.localFailure(name, err, run.ID)
	}
}

// countStopped counts, in rotor_executions_stopped_total, the executions
// the bindings of run stopped (as their target's policy allowed).
func (s *Server) countStopped(ctx context.Context, name string, runID int64) {
	if runID == 0 {
		return
	}
	states, err := s.deps.Store.Bindings(context.WithoutCancel(ctx), runID)
	if err != nil {
		s.m.storeError()
		s.log.Warn("count stopped executions: read bindings", "credential", name, "run", runID, "err", err)
		return
	}
	s.m.executionsStopped(name, runID, states)
}

// localFailure records a failure that left no finished run, backs the
// credential off and alerts.
func (s *Server) localFailure(name string, err error, runID int64) {
	s.m.storeErrorIf(err)
	s.update(name, func(c *credState) {
		c.Failures++
		c.LastFailure = s.opts.Now().UTC()
		c.LastError, c.ErrorAt = err.Error(), c.LastFailure
		c.Requested = false
	})
	s.log.Error("rotation could not proceed; will retry with backoff", "credential", name, "run", runID, "err", err)
	s.alert.Send(alert.Alert{Event: alert.EventRotationFailed, Credential: name, RunID: runID, Severity: alert.Warning,
		Message: "rotation could not proceed and will be retried: " + err.Error()})
}

// countAPIErrors attributes a failed run to the service that failed it:
// GitHub for minting and checking, the target's service for bindings (the
// run's error names the binding that failed, or the target that could not
// discover).
func (s *Server) countAPIErrors(ctx context.Context, run rotation.Run) {
	switch run.Reason {
	case "MintFailed", "CheckFailed":
		s.m.apiError("github")
		return
	case "DiscoverFailed":
		if _, rest, ok := strings.Cut(run.Error, "discover "); ok {
			if typ, _, ok := strings.Cut(rest, " target"); ok {
				s.m.apiError(typ)
				return
			}
		}
	}
	states, err := s.deps.Store.Bindings(context.WithoutCancel(ctx), run.ID)
	if err != nil {
		return
	}
	for _, st := range states {
		if strings.Contains(run.Error, st.Binding.ID) {
			s.m.apiError(st.Binding.Target)
			return
		}
	}
}
