package migrate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/lease"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Binding attributes a migration adds to each action it records.
const (
	AttrConnection = "migrate_connection" // the connection ARN it moves to
	AttrV1         = "migrate_v1"         // the version 1 configuration (JSON, no token)
	AttrDetect     = "migrate_detect"     // DetectChanges: "true" or "false"
	AttrWebhooks   = "migrate_webhooks"   // the webhooks that target it, comma-separated
)

// Steps of a migration run (rotation.Run.Step).
const (
	StepStarted  rotation.Step = "started"
	StepMoved    rotation.Step = "moved" // every action moved, rolled back or left waiting
	StepMigrated               = rotation.StepMigrated
)

// Credential is one credential as a migration sees it.
type Credential struct {
	Name        string
	Application string
	// Pipelines are its codepipeline targets, by the slot (index) of the
	// credential's targets; nil where a target is of another type.
	Pipelines []Pipelines
	// Others names its targets of other types: while there are any, the
	// token stays in use and is not retired.
	Others []string
	// Grace is how long the token stays valid after the last action moved.
	Grace time.Duration
}

// Options of one migration.
type Options struct {
	// Selection narrows a new migration to some actions (zero: all).
	Selection
	// Connections are the connections' ARNs, at most one per account ×
	// region: each action moves to the one of its place (required for a
	// new migration; a resumed one uses those it recorded).
	Connections []string
	// DryRun plans and writes nothing.
	DryRun bool
}

// Migrator runs migrations. Safe for concurrent use by different
// credentials; one credential's runs are serialised by its lease.
type Migrator struct {
	Store    rotation.Store
	Sealer   rotation.Sealer
	Log      *slog.Logger
	Holder   string
	LeaseTTL time.Duration // default 30 s
	Now      func() time.Time
	// Concurrency bounds how many pipelines move at once (default 8).
	Concurrency int
	// MaxWait bounds the wait for a busy pipeline on the way back to
	// version 1 after a failure (default 30 min). The way forward waits as
	// the target says (Pipelines.MoveWait).
	MaxWait time.Duration
	// IdlePoll is the longest pause between two looks at a busy pipeline
	// (default 10 s).
	IdlePoll time.Duration
	// Hook is called after each persisted step with its audit event (the
	// torture build's crash points).
	Hook func(event string)
	// Observe is told each action's outcome as it happens.
	Observe func(Action)
}

// Action is one version 1 action in a migration.
type Action struct {
	Binding  string `json:"binding"`
	Pipeline string `json:"pipeline"`
	// Connection is the one of the action's account and region that it
	// moves (or would move) to; "" for a dry run given none.
	Connection string   `json:"connection,omitempty"`
	Status     string   `json:"status"` // pending, refused, applied, verified, rolled_back, waiting, failed
	Error      string   `json:"error,omitempty"`
	Blockers   []string `json:"blockers,omitempty"`
	Webhooks   []string `json:"webhooks,omitempty"`
}

// Result is a migration's outcome.
type Result struct {
	Credential string `json:"credential"`
	RunID      int64  `json:"run_id,omitempty"`
	// Connections are those the actions move to, one per account × region.
	Connections []string `json:"connections"`
	DryRun      bool     `json:"dry_run,omitempty"`
	Actions     []Action `json:"actions"`
	// Migrated: every action of the credential moved; the token retires
	// after the grace period.
	Migrated bool `json:"migrated"`
	// TokenKept says why the token is not retired (actions left on
	// version 1, other targets).
	TokenKept string `json:"token_kept,omitempty"`
}

func (m *Migrator) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Migrator) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (m *Migrator) holder() string { return cmp.Or(m.Holder, rotation.DefaultHolder()) }

// Migrate moves c's version 1 actions (those opts.Selection selects, when
// set) to the connection, or resumes c's unfinished migration.
func (m *Migrator) Migrate(ctx context.Context, c Credential, opts Options) (Result, error) {
	res := Result{Credential: c.Name, DryRun: opts.DryRun}
	lctx, held, err := lease.Hold(ctx, m.Store, m.holder(), []string{c.Name}, lease.Options{
		TTL: cmp.Or(m.LeaseTTL, 30*time.Second), Now: m.Now,
		Lost: func(err error) { m.log().Error("lost lease: stopping migration", "credential", c.Name, "err", err) },
	})
	if err != nil {
		return res, err
	}
	defer held.Abandon()
	res, err = m.migrate(lctx, c, opts, res)
	if lerr := lease.Check(lctx); lerr != nil && err == nil {
		err = lerr
	}
	if rerr := held.Release(); rerr != nil {
		m.log().Warn("release lease", "credential", c.Name, "err", rerr)
	}
	return res, err
}

// session is one migration run in this process.
type session struct {
	m   *Migrator
	c   Credential
	run rotation.Run
	tok token.Token // the credential's token, for the way back
	mu  sync.Mutex  // serialises the run's writes
	// unwritten is set once a step could not be persisted: nothing more
	// is done in this process (a resume goes on from the last step stored).
	unwritten bool
}

func (m *Migrator) migrate(ctx context.Context, c Credential, opts Options, res Result) (Result, error) {
	run, err := m.Store.OpenRun(ctx, c.Name)
	switch {
	case err == nil && run.Trigger != rotation.TriggerMigrate:
		return res, fmt.Errorf("%s: %w: rotation run %d stopped after step %q: finish it first with 'rotor rotate %s --resume'", c.Name, rotation.ErrOpenRun, run.ID, run.Step, c.Name)
	case err == nil:
		if opts.DryRun {
			return res, fmt.Errorf("%s: migration run %d is unfinished: run 'rotor migrate %s' to resume it", c.Name, run.ID, c.Name)
		}
		m.log().Info("resuming migration", "credential", c.Name, "run", run.ID, "step", run.Step)
	case errors.Is(err, rotation.ErrNotFound):
		runs, err := m.Store.Runs(ctx, c.Name, 1)
		if err != nil {
			return res, err
		}
		if r, ok := rotation.Migrated(runs); ok {
			// Done already (a crash may have come before the retirement,
			// which the caller does next): say so again.
			res.RunID, res.Migrated = r.ID, true
			return res, nil
		}
		if run, err = m.start(ctx, c, opts, &res); err != nil || opts.DryRun {
			return res, err
		}
	default:
		return res, fmt.Errorf("%s: read open run: %w", c.Name, err)
	}
	res.RunID = run.ID
	s := &session{m: m, c: c, run: run}
	defer func() { s.tok = token.Token{} }()
	return s.drive(ctx, &res)
}

// start plans a new migration and, unless it is a dry run, records it:
// the run and one binding per action, each with what its way back needs.
// Everything it refuses (a connection missing for an action's account and
// region, or not AVAILABLE) is refused here, before any write.
func (m *Migrator) start(ctx context.Context, c Credential, opts Options, res *Result) (rotation.Run, error) {
	conns, err := ParseConnections(opts.Connections)
	if err != nil {
		return rotation.Run{}, err
	}
	if len(conns) == 0 && !opts.DryRun {
		return rotation.Run{}, fmt.Errorf("%s: %w: give --connection ARN (or --create-connection NAME to create one)", c.Name, ErrNotAvailable)
	}
	versions, err := m.Store.Versions(ctx, c.Name)
	if err != nil {
		return rotation.Run{}, err
	}
	cur := slices.IndexFunc(versions, func(v rotation.Version) bool { return v.State == rotation.VersionCurrent })
	if cur < 0 {
		return rotation.Run{}, fmt.Errorf("%s: %w: a migration puts a pipeline that fails back on its version 1 action with the token; record it with 'rotor adopt %s --token-stdin' first", c.Name, rotation.ErrNoCurrent, c.Name)
	}
	plan, err := Plan(ctx, c, conns, versions[cur].Fingerprint)
	if err != nil {
		return rotation.Run{}, err
	}
	var selected, movable []Planned
	for _, p := range plan.Actions {
		if !opts.Selects(p.Binding) {
			continue
		}
		selected = append(selected, p)
		if len(p.Blockers) == 0 {
			movable = append(movable, p)
		}
	}
	if len(selected) == 0 {
		return rotation.Run{}, fmt.Errorf("%s: %w%s", c.Name, ErrNothing, opts.Selection)
	}
	// A dry run given no connection only lists what would move.
	if len(conns) > 0 {
		if missing := unplaced(movable, conns); len(missing) > 0 {
			return rotation.Run{}, errUnplaced(c.Name, missing, conns)
		}
		if err := m.checkAvailable(ctx, c, movable, conns); err != nil {
			return rotation.Run{}, err
		}
	}
	var states []rotation.BindingState
	now := m.now()
	for _, p := range selected {
		conn := conns[PlaceOf(p.Binding)]
		a := Action{Binding: p.Binding.ID, Pipeline: p.Pipeline, Connection: conn, Status: string(rotation.BindingPending), Blockers: p.Blockers, Webhooks: p.webhookNames()}
		st := rotation.BindingState{Binding: p.Binding, Status: rotation.BindingPending, UpdatedAt: now}
		if len(p.Blockers) > 0 {
			a.Status, st.Status = string(rotation.BindingRefused), rotation.BindingRefused
			st.Error = "not moved: " + strings.Join(p.Blockers, "; ")
			a.Error = st.Error
		}
		v1, _ := json.Marshal(p.V1)
		st.Binding.Attrs = cloneAttrs(p.Binding.Attrs)
		st.Binding.Attrs[AttrConnection] = conn
		st.Binding.Attrs[AttrV1] = string(v1)
		st.Binding.Attrs[AttrDetect] = fmt.Sprint(p.Detect)
		st.Binding.Attrs[AttrWebhooks] = strings.Join(a.Webhooks, ",")
		states = append(states, st)
		res.Actions = append(res.Actions, a)
	}
	res.Connections = connectionsOf(states)
	if opts.DryRun {
		return rotation.Run{}, nil
	}
	run := rotation.Run{Credential: c.Name, Trigger: rotation.TriggerMigrate, Step: StepStarted, Status: rotation.RunRunning,
		PrevSeq: versions[cur].Seq, StartedAt: now, UpdatedAt: now}
	err = m.tx(ctx, func(tx rotation.Tx) error {
		if err := tx.PutCredential(rotation.CredentialRecord{Name: c.Name, Application: c.Application, CreatedAt: now}); err != nil {
			return err
		}
		var err error
		if run, err = tx.CreateRun(run); err != nil {
			return err
		}
		if err := tx.PutBindings(run.ID, states); err != nil {
			return err
		}
		return m.audit(tx, run, "migrate.started", map[string]any{"connections": res.Connections, "actions": len(states), "pipeline": opts.Pipeline, "account": opts.Account, "region": opts.Region})
	})
	if err != nil {
		return rotation.Run{}, fmt.Errorf("%s: record migration: %w", c.Name, err)
	}
	m.hook("migrate.started")
	return run, nil
}

// checkAvailable checks that the connection of each place of actions is
// AVAILABLE, asking CodeConnections in that place.
func (m *Migrator) checkAvailable(ctx context.Context, c Credential, actions []Planned, conns map[Place]string) error {
	checked := map[Place]bool{}
	for _, a := range actions {
		place := PlaceOf(a.Binding)
		if checked[place] {
			continue
		}
		checked[place] = true
		arn := conns[place]
		api, err := c.Pipelines[a.Binding.Slot].Connections(ctx, place)
		if err != nil {
			return fmt.Errorf("connection %s: %w", arn, err)
		}
		status, err := api.Status(ctx, arn)
		if err != nil {
			return fmt.Errorf("connection %s: %w", arn, err)
		}
		if status != ConnectionAvailable {
			return fmt.Errorf("connection %s: %w: its status is %s; complete the handshake in the console (%s), then run this again", arn, ErrNotAvailable, status, api.ConsoleURL(arn))
		}
	}
	return nil
}

// connectionsOf lists the connections the actions move to, sorted.
func connectionsOf(states []rotation.BindingState) []string {
	var out []string
	for _, st := range states {
		if v := st.Binding.Attrs[AttrConnection]; v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func cloneAttrs(a map[string]string) map[string]string {
	out := make(map[string]string, len(a)+4)
	for k, v := range a {
		out[k] = v
	}
	return out
}

// drive moves every action of the run not yet done, then finishes the run.
func (s *session) drive(ctx context.Context, res *Result) (Result, error) {
	states, err := s.m.Store.Bindings(ctx, s.run.ID)
	if err != nil {
		return *res, err
	}
	versions, err := s.m.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return *res, err
	}
	vi := slices.IndexFunc(versions, func(v rotation.Version) bool { return v.Seq == s.run.PrevSeq })
	if vi < 0 {
		return *res, fmt.Errorf("%s: version %d of the run is gone", s.c.Name, s.run.PrevSeq)
	}
	if s.tok, err = s.m.Sealer.Open(ctx, versions[vi].SealContext(), versions[vi].Sealed); err != nil {
		return *res, fmt.Errorf("%s: open version %d: %w", s.c.Name, s.run.PrevSeq, err)
	}
	res.Connections = connectionsOf(states)

	// One worker per pipeline at a time: its actions move one after another.
	byPipeline := map[string][]int{}
	var order []string
	for i, st := range states {
		p := st.Binding.Attrs["pipeline"]
		if _, ok := byPipeline[p]; !ok {
			order = append(order, p)
		}
		byPipeline[p] = append(byPipeline[p], i)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(cmp.Or(s.m.Concurrency, 8), len(order)) {
		wg.Go(func() {
			for p := range work {
				for _, i := range byPipeline[p] {
					states[i] = s.move(ctx, states[i])
				}
			}
		})
	}
	for _, p := range order {
		if ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	if err := lease.Check(ctx); err != nil {
		return *res, err
	}
	if err := ctx.Err(); err != nil {
		return *res, err
	}
	if s.stopped() {
		return *res, fmt.Errorf("%s: %w: a step could not be recorded (see the log); run the same command again to resume", s.c.Name, ErrFailed)
	}
	res.Actions = res.Actions[:0]
	for _, st := range states {
		res.Actions = append(res.Actions, actionOf(st))
	}
	return s.finish(ctx, states, res)
}

func actionOf(st rotation.BindingState) Action {
	a := Action{Binding: st.Binding.ID, Pipeline: st.Binding.Attrs["pipeline"], Connection: st.Binding.Attrs[AttrConnection], Status: string(st.Status), Error: st.Error}
	if w := st.Binding.Attrs[AttrWebhooks]; w != "" {
		a.Webhooks = strings.Split(w, ",")
	}
	return a
}

// move takes one action as far as it goes: from pending (or waiting) to
// verified on the connection, or back to version 1. Each state is persisted
// before the next call to AWS, so that a resumed run knows where it is:
//
//	pending/waiting → (webhooks deregistered) applying → applied → verified
//	                                                          ↘ failed → rolled_back
func (s *session) move(ctx context.Context, st rotation.BindingState) rotation.BindingState {
	b := st.Binding
	p := s.c.Pipelines[b.Slot]
	if p == nil {
		return s.put(ctx, st, rotation.BindingFailed, fmt.Errorf("binding %s: its target is not a codepipeline target", b.ID), "migrate.failed")
	}
	var v1 map[string]string
	if err := json.Unmarshal([]byte(b.Attrs[AttrV1]), &v1); err != nil {
		return s.put(ctx, st, rotation.BindingFailed, fmt.Errorf("binding %s: recorded version 1 configuration: %w", b.ID, err), "migrate.failed")
	}
	hooks := splitList(b.Attrs[AttrWebhooks])
	for {
		if ctx.Err() != nil || s.stopped() {
			return st
		}
		switch st.Status {
		case rotation.BindingVerified, rotation.BindingRefused, rotation.BindingRolledBack:
			return st
		case rotation.BindingPending, rotation.BindingWaiting:
			// A webhook's GitHub hook is deleted with the version 1
			// action's token, so before the action moves.
			for _, h := range hooks {
				if err := p.DeregisterWebhook(ctx, b, h); err != nil {
					return s.put(ctx, st, rotation.BindingRefused, err, "migrate.refused")
				}
			}
			st = s.put(ctx, st, rotation.BindingApplying, nil, "migrate.applying")
		case rotation.BindingApplying:
			err := s.waitIdle(ctx, p.MoveWait(), func() error { return p.ToConnection(ctx, b, b.Attrs[AttrConnection], b.Attrs[AttrDetect] == "true") })
			switch {
			case errors.Is(err, ErrBusy):
				s.reregister(ctx, p, b, hooks)
				return s.put(ctx, st, rotation.BindingWaiting, err, "migrate.waiting")
			case err != nil:
				st = s.put(ctx, st, rotation.BindingFailed, err, "migrate.failed")
				continue // the update may have gone through: put the action back
			}
			st = s.put(ctx, st, rotation.BindingApplied, nil, "migrate.applied")
		case rotation.BindingApplied:
			if err := p.VerifyExecution(ctx, b); err != nil {
				if ctx.Err() != nil {
					return st
				}
				st = s.put(ctx, st, rotation.BindingFailed, err, "migrate.failed")
				continue
			}
			for _, h := range hooks { // deregistered before the move; the action is no longer theirs
				if err := p.DeleteWebhook(ctx, b, h); err != nil {
					s.m.log().Warn("delete webhook", "webhook", h, "err", err)
				}
			}
			st = s.put(ctx, st, rotation.BindingVerified, nil, "migrate.verified")
		case rotation.BindingFailed:
			why := st.Error
			err := s.waitIdle(ctx, cmp.Or(s.m.MaxWait, 30*time.Minute), func() error { return p.ToV1(ctx, b, v1, s.tok) })
			if err != nil {
				// Left failed: a resumed run tries the way back again.
				s.m.log().Error("roll back to version 1", "binding", b.ID, "err", s.scrub(err.Error()))
				st.Error = why + "; the way back failed: " + s.scrub(err.Error())
				return st
			}
			s.reregister(ctx, p, b, hooks)
			st.Error = why
			st = s.put(ctx, st, rotation.BindingRolledBack, nil, "migrate.rolled_back")
		default: // applying's older names, or a status this build does not know
			return s.put(ctx, st, rotation.BindingFailed, fmt.Errorf("binding %s: unexpected status %q", b.ID, st.Status), "migrate.failed")
		}
	}
}

func (s *session) reregister(ctx context.Context, p Pipelines, b rotation.Binding, hooks []string) {
	for _, h := range hooks {
		if err := p.RegisterWebhook(ctx, b, h); err != nil {
			s.m.log().Warn("register webhook again", "webhook", h, "err", s.scrub(err.Error()))
		}
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// waitIdle calls write until it is not refused as busy, pausing a second,
// then twice as long each time up to IdlePoll, for at most maxWait: no
// execution is ever stopped.
func (s *session) waitIdle(ctx context.Context, maxWait time.Duration, write func() error) error {
	until := time.Now().Add(maxWait)
	delay := min(time.Second, cmp.Or(s.m.IdlePoll, 10*time.Second))
	for {
		err := write()
		if !errors.Is(err, ErrBusy) || !time.Now().Add(delay).Before(until) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, cmp.Or(s.m.IdlePoll, 10*time.Second))
	}
}

func (s *session) stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unwritten
}

// put persists one action's new status with an audit record, then calls
// the hook. A write that fails (the lease lost) leaves st as it was.
func (s *session) put(ctx context.Context, st rotation.BindingState, status rotation.BindingStatus, cause error, event string) rotation.BindingState {
	next := st
	next.Status, next.UpdatedAt = status, s.m.now()
	if cause != nil {
		next.Error = s.scrub(cause.Error())
	} else if status != rotation.BindingRolledBack {
		next.Error = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.m.tx(ctx, func(tx rotation.Tx) error {
		if err := tx.PutBindings(s.run.ID, []rotation.BindingState{next}); err != nil {
			return err
		}
		d := map[string]any{"binding": st.Binding.ID}
		if next.Error != "" {
			d["error"] = next.Error
		}
		return s.m.audit(tx, s.run, event, d)
	})
	if err != nil {
		s.m.log().Error("persist migration step", "binding", st.Binding.ID, "event", event, "err", err)
		s.unwritten = true
		return st
	}
	s.m.hook(event)
	if s.m.Observe != nil && event != "migrate.applying" {
		s.m.Observe(actionOf(next))
	}
	return next
}

// finish closes the run. When every action of the run is verified and the
// credential has no version 1 action and no other target left, the token
// becomes previous (retired by the engine's Retire after the grace period)
// and the run ends at StepMigrated: the credential is migrated.
func (s *session) finish(ctx context.Context, states []rotation.BindingState, res *Result) (Result, error) {
	var rolledBack, failed, waiting int
	for _, st := range states {
		switch st.Status {
		case rotation.BindingRolledBack:
			rolledBack++
		case rotation.BindingFailed:
			failed++
		case rotation.BindingWaiting, rotation.BindingRefused:
			waiting++
		}
	}
	if failed > 0 {
		// The way back did not finish: the run stays open for a resume.
		return *res, fmt.Errorf("%s: %w: %d action(s) could not be put back on version 1 yet; run 'rotor migrate %s' again to finish", s.c.Name, ErrFailed, failed, s.c.Name)
	}
	left, err := s.remaining(ctx)
	if err != nil {
		return *res, err
	}
	run := s.run
	run.Status, run.Step, run.FinishedAt, run.UpdatedAt = rotation.RunSucceeded, StepMoved, s.m.now(), s.m.now()
	switch {
	case rolledBack > 0:
		run.Status, run.Reason = rotation.RunRolledBack, "VerifyFailed"
		run.Error = fmt.Sprintf("%d pipeline(s) failed their verification and were put back on version 1", rolledBack)
	case left > 0:
		res.TokenKept = fmt.Sprintf("%d GitHub (version 1) action(s) still use the token", left)
	case len(s.c.Others) > 0:
		res.TokenKept = "the credential's other targets still hold the token: " + strings.Join(s.c.Others, ", ")
	default:
		run.Step = StepMigrated
	}
	if rolledBack > 0 || waiting > 0 {
		res.TokenKept = cmp.Or(res.TokenKept, fmt.Sprintf("%d action(s) are still on version 1", rolledBack+waiting))
	}
	versions, err := s.m.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return *res, err
	}
	err = s.m.tx(ctx, func(tx rotation.Tx) error {
		if run.Step == StepMigrated {
			for _, v := range versions {
				if v.State == rotation.VersionCurrent {
					v.State, v.RetireAfter = rotation.VersionPrevious, s.m.now().Add(s.c.Grace)
					if err := tx.UpdateVersion(v); err != nil {
						return err
					}
				}
			}
		}
		if err := tx.UpdateRun(run); err != nil {
			return err
		}
		return s.m.audit(tx, run, "migrate."+string(run.Step), map[string]any{"status": run.Status, "rolled_back": rolledBack, "waiting": waiting})
	})
	if err != nil {
		return *res, fmt.Errorf("%s: record the end of the migration: %w", s.c.Name, err)
	}
	s.m.hook("migrate." + string(run.Step))
	res.Migrated = run.Step == StepMigrated
	if rolledBack > 0 {
		return *res, fmt.Errorf("%s: %w: %s", s.c.Name, ErrRolledBack, run.Error)
	}
	return *res, nil
}

// remaining counts the credential's version 1 actions still in place.
func (s *session) remaining(ctx context.Context) (int, error) {
	n := 0
	for _, p := range s.c.Pipelines {
		if p == nil {
			continue
		}
		bs, err := p.V1Actions(ctx)
		if err != nil {
			return 0, fmt.Errorf("%s: look for actions left on version 1: %w", s.c.Name, err)
		}
		n += len(bs)
	}
	return n, nil
}

func (s *session) scrub(msg string) string {
	if !s.tok.IsZero() {
		msg = strings.ReplaceAll(msg, s.tok.Reveal(), s.tok.Redacted())
	}
	return token.RedactText(msg)
}

// tx is the store's transaction fenced by the lease, as the engine's.
func (m *Migrator) tx(ctx context.Context, fn func(rotation.Tx) error) error {
	return rotation.FencedTx(ctx, m.Store, fn)
}

func (m *Migrator) audit(tx rotation.Tx, run rotation.Run, event string, detail map[string]any) error {
	rec, err := rotation.AuditRecord(m.now(), m.holder(), run, event, detail)
	if err != nil {
		return err
	}
	_, err = tx.AppendAudit(rec)
	return err
}

func (m *Migrator) hook(event string) {
	if m.Hook != nil {
		m.Hook(event)
	}
}
