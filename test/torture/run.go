package torture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Figures are a run's numbers; String is the one line the harness prints.
type Figures struct {
	Rotations, Succeeded, RolledBack, Failed, Resumed, Retired int
	// Executions the harness started, those rotor's updates stopped (I8
	// allows only a race: one that started after rotor's last look), and
	// the bindings left waiting for their pipeline (stragglers) and the
	// longest wait until one moved.
	Deployments, StoppedExecutions, RacedStops     int
	Stragglers                                     int
	StragglerWaitMax                               time.Duration
	Crashes, CrashPoints, RandomKills              int
	Faults, FaultedRequests                        int
	Fetches, FailedFetches, FailedFetchesDeadToken int
	Violations, OrphanLiveTokens, Leaks, LostMints int
	RevocationsQueued                              int // retired tokens behind GitHub's hourly revocation allowance
	ScheduledRuns                                  int
	// github-app-user credentials: fetches with a user token its refresh
	// had ended (the documented gap until apply), and how often the
	// harness's person authorized rotor again because it said so.
	SupersededFetches, Authorizations                int
	Pipelines, Credentials, Processes, FilesSearched int
	Took                                             time.Duration
}

func (f Figures) String() string {
	return fmt.Sprintf("torture: rotations=%d crashes=%d faults=%d fetches=%d failed_fetches_dead_token=%d violations=%d orphan_live_tokens=%d leaks=%d stopped_executions=%d stragglers=%d"+
		" (succeeded=%d rolled_back=%d failed=%d resumed=%d retired=%d serve_runs=%d crash_points=%d random_kills=%d lost_mints=%d revocations_queued=%d superseded_fetches=%d authorizations=%d faulted_requests=%d failed_fetches=%d deployments=%d raced_stops=%d straggler_wait_max=%s pipelines=%d credentials=%d rotor_processes=%d files_searched=%d took=%s)",
		f.Rotations, f.Crashes, f.Faults, f.Fetches, f.FailedFetchesDeadToken, f.Violations, f.OrphanLiveTokens, f.Leaks, f.StoppedExecutions, f.Stragglers,
		f.Succeeded, f.RolledBack, f.Failed, f.Resumed, f.Retired, f.ScheduledRuns, f.CrashPoints, f.RandomKills, f.LostMints, f.RevocationsQueued, f.SupersededFetches, f.Authorizations, f.FaultedRequests, f.FailedFetches,
		f.Deployments, f.RacedStops, f.StragglerWaitMax.Round(100*time.Millisecond),
		f.Pipelines, f.Credentials, f.Processes, f.FilesSearched, f.Took.Round(100*time.Millisecond))
}

// Report is the outcome of Run.
type Report struct {
	Figures    Figures
	Violations []Violation // every distinct one, first first
	Notes      []string
}

// Phases sizes the phases of Run.
type Phases struct {
	Sweep       bool // crash at every step boundary of every credential's paths
	SweepResume bool // and again with a crash during the resume
}

// Run tortures rotor: the deterministic sweep, then chaos until the
// minimums are met, then rotor serve killed again and again; after each,
// the world is settled and checked. A phase that cannot finish (a run that
// never settles) stops the run, but what was recorded is still checked.
func (h *Harness) Run(ctx context.Context, ph Phases) (Report, error) {
	ws := h.workers()
	seen := map[string]bool{}
	var rep Report
	check := func(name string, settle bool) error {
		t0 := time.Now()
		if settle {
			if err := h.Settle(ctx, ws); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		t1 := time.Now()
		recs, files, err := h.gather(ctx, ws)
		if h.deploy != nil {
			h.deploy.resume()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		f := Check(recs)
		if !settle {
			f.OrphanLiveTokens = 0 // not at rest: I3 does not apply
		}
		for _, v := range f.Violations {
			if !settle && (v.Invariant == "I3") {
				continue // a world that did not settle is not at rest
			}
			if !seen[v.String()] {
				seen[v.String()] = true
				rep.Violations = append(rep.Violations, v)
			}
		}
		rep.Figures = h.figures(f, files)
		h.logf("after %s (settled in %s, checked in %s): %s", name, t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond), rep.Figures)
		return nil
	}
	err := h.phases(ctx, ws, ph, func(name string) error { return check(name, true) })
	if err != nil && ctx.Err() == nil {
		// Check what was recorded: at rest if the world can still be
		// settled, else without the at-rest checks.
		h.logf("stopped: %v", err)
		if cerr := check("the stop", true); cerr != nil {
			h.logf("could not settle: %v", cerr)
			if cerr := check("the stop, unsettled", false); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}
	if v := h.tamperControl(ctx); v != nil {
		rep.Violations = append(rep.Violations, *v)
	}
	rep.Figures.Violations = len(rep.Violations)
	rep.Figures.Took = time.Since(h.start)
	h.mu.Lock()
	rep.Notes = append([]string(nil), h.notes...)
	h.mu.Unlock()
	return rep, err
}

func (h *Harness) phases(ctx context.Context, ws []*worker, ph Phases, checkpoint func(string) error) error {
	if ph.Sweep {
		if err := h.Sweep(ctx, ws, ph.SweepResume); err != nil {
			return err
		}
		if err := checkpoint("sweep"); err != nil {
			return err
		}
	}
	if !ph.Sweep {
		// Without the sweep, a crash at each step of a refresh all the
		// same, first: one of them loses GitHub's answer, and a person
		// must be called.
		for _, w := range ws {
			if w.c.Source == appUser {
				for _, e := range refreshEvents {
					w.first = append(w.first, plan{label: "crash at " + e, crashAt: e})
				}
			}
		}
	}
	reserve := h.opts.ServeFor + 20*time.Second
	until := func() bool {
		runs := 0
		for _, w := range ws {
			runs += int(w.runs.Load())
		}
		met := runs >= h.opts.MinRotations-h.serveRotationsGuess() && h.rotor.Stats().Killed >= h.opts.MinCrashes-h.serveCrashesGuess()
		return met || time.Since(h.start) > h.opts.Budget-reserve
	}
	if err := h.Chaos(ctx, ws, until); err != nil {
		return err
	}
	if err := checkpoint("chaos"); err != nil {
		return err
	}
	if h.opts.ServeFor > 0 {
		if err := h.Serve(ctx, ws, h.opts.ServeFor); err != nil {
			return err
		}
		if err := checkpoint("serve"); err != nil {
			return err
		}
	}
	return nil
}

// What the serve phase is expected to add, so that chaos stops early
// enough: the github-app credentials rotate about once per AppEvery and
// the daemon dies about every two seconds.
func (h *Harness) serveRotationsGuess() int {
	if h.opts.ServeFor <= 0 {
		return 0
	}
	return int(h.opts.ServeFor / (h.opts.AppEvery + time.Second))
}

func (h *Harness) serveCrashesGuess() int {
	return int(h.opts.ServeFor / (3 * time.Second))
}

func (h *Harness) figures(f Findings, files int) Figures {
	st := h.rotor.Stats()
	sum := h.sb.CodePipeline.FetchSummary()
	faulted := 0
	for _, c := range h.sb.Faults.Counts() {
		faulted += int(c.Throttled + c.ServerErrors + c.Failed)
	}
	return Figures{
		Rotations: f.Rotations, Succeeded: f.Succeeded, RolledBack: f.RolledBack, Failed: f.Failed, Resumed: f.Resumed, Retired: f.Retired,
		Crashes: st.Killed, RandomKills: st.RandomKills, CrashPoints: st.Killed - st.RandomKills,
		Faults: len(h.faults.Episodes()), FaultedRequests: faulted,
		Fetches: int(sum.Total), FailedFetches: f.FailedFetches, FailedFetchesDeadToken: f.FailedFetchesDeadToken,
		Violations: len(f.Violations), OrphanLiveTokens: f.OrphanLiveTokens, Leaks: f.Leaks, LostMints: f.LostMints, RevocationsQueued: f.RevocationsQueued, ScheduledRuns: f.ScheduledRuns,
		SupersededFetches: f.SupersededFetches, Authorizations: int(h.authorizations.Load()),
		Pipelines: h.layout.Pipelines(), Credentials: len(h.layout.Creds), Processes: st.Runs, FilesSearched: files,
		StoppedExecutions: f.StoppedExecutions, RacedStops: f.RacedStops, Stragglers: f.Stragglers, StragglerWaitMax: f.StragglerWaitMax,
		Deployments: h.deployments(),
		Took:        time.Since(h.start),
	}
}

func (h *Harness) deployments() int {
	if h.deploy == nil {
		return 0
	}
	return int(h.deploy.started.Load())
}

// gather reads every record the checks need.
func (h *Harness) gather(ctx context.Context, ws []*worker) (Records, int, error) {
	r := Records{Start: h.start, Now: time.Now(), Grace: h.opts.Grace, Initial: h.initial, Pipelines: map[string]pipelineNow{}}
	st := h.rotor.Stats()
	r.Kills, r.KilledPIDs = st.KilledAt, st.KilledPIDs
	r.Fetches = h.sb.CodePipeline.Fetches()
	r.CPUpdates = h.sb.CodePipeline.Updates()
	r.Interrupt = h.layout.interrupting()
	r.FetchesDropped = h.sb.CodePipeline.FetchSummary().Dropped
	r.Mints, r.Revokes, r.Updates, _ = h.wire.Snapshot()
	r.UserGrants = h.wire.UserGrants()
	r.UserCreds = map[string]string{}
	for _, name := range h.layout.userCreds() {
		r.UserCreds[h.userClientID] = name
	}
	r.Tokens = h.allTokens()
	gt, err := h.liveTokens()
	if err != nil {
		return r, 0, err
	}
	r.Live, r.PATRevokedAt, r.Superseded, r.UserRevokedAt = gt.Live, gt.PATRevokedAt, gt.Superseded, gt.UserRevokedAt
	for _, name := range h.sb.CodePipeline.PipelineNames() {
		masked, version, _ := h.sb.CodePipeline.Pipeline(name)
		now := pipelineNow{Version: version, Tokens: map[string]string{}}
		if now.Masked, err = withoutVersion(masked); err != nil {
			return r, 0, err
		}
		for _, a := range githubActionsOf(masked) {
			t, _ := h.sb.CodePipeline.StoredToken(name, a.action)
			now.Tokens[a.stage+"/"+a.action] = t.Fingerprint()
		}
		r.Pipelines[name] = now
	}
	for _, w := range ws {
		hi, err := h.history(ctx, w.c.Name)
		if err != nil {
			return r, 0, err
		}
		cs := credState{Name: w.c.Name, Versions: map[string]string{}}
		for _, v := range hi.Versions {
			cs.Versions[v.Fingerprint] = string(v.State)
			if v.State == "current" {
				cs.Current = v.Fingerprint
			}
		}
		_, cs.Open = hi.open()
		cs.Bindings = h.layout.bindingsOf(w.c.Name)
		r.Creds = append(r.Creds, cs)
	}
	if r.Audit, err = h.auditLog(ctx); err != nil {
		return r, 0, err
	}
	if res := h.rotor.Run(ctx, Job{Args: []string{"audit", "verify"}}); res.Exit != 0 {
		r.AuditVerify = fmt.Errorf("%s: %s", res, lastLine(res.Stderr))
	}
	values := map[string]token.Token{}
	for fp, k := range r.Tokens {
		values[fp] = k.Value
	}
	own, files, err := SearchLeaks([]string{h.opts.Dir}, values, time.Time{}, nil)
	if err != nil {
		return r, files, err
	}
	tmp, n, err := SearchLeaks([]string{os.TempDir()}, values, h.start, func(p string) bool {
		base := filepath.Base(p)
		// The harness's own directory was searched above; build caches
		// hold no rotor output, and the tools that run this session are
		// none of the harness's business.
		return p == h.opts.Dir || strings.HasPrefix(p, h.opts.Dir+string(filepath.Separator)) ||
			strings.HasPrefix(base, "go-build") || strings.HasPrefix(base, "bash_")
	})
	if err != nil {
		return r, files, err
	}
	for _, l := range tmp {
		if !strings.HasPrefix(l.Fingerprint, "unknown:") { // other programs' tokens are theirs
			own = append(own, l)
		}
	}
	r.Leaks = own
	return r, files + n, nil
}

// bindingsOf lists where credential name's token lives.
func (l Layout) bindingsOf(name string) []binding {
	var out []binding
	c, _ := l.Cred(name)
	for _, p := range c.Pipelines {
		out = append(out, binding{p, "Source/Source"})
	}
	for _, s := range l.Shared {
		if s.First == name {
			out = append(out, binding{s.Name, "Source/Source"})
		}
		if s.Then == name {
			out = append(out, binding{s.Name, "Source/Tools"})
		}
	}
	return out
}

// tamperControl proves the I7 check has teeth: on a copy of the store with
// one audit record edited, rotor audit verify must fail.
func (h *Harness) tamperControl(ctx context.Context) *Violation {
	dir := filepath.Join(h.opts.Dir, "tamper")
	fail := func(format string, a ...any) *Violation {
		return &Violation{Invariant: "I7", At: time.Now(), What: "tamper control: " + fmt.Sprintf(format, a...)}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("%v", err)
	}
	for _, f := range []string{"rotor.yaml", "rotor.key", "app.pem", "api.token"} {
		b, err := os.ReadFile(filepath.Join(h.opts.Dir, f))
		if err != nil {
			return fail("%v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			return fail("%v", err)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(h.opts.Dir, "rotor.db")+"?_pragma=busy_timeout(20000)")
	if err != nil {
		return fail("%v", err)
	}
	defer db.Close()
	copyPath := filepath.Join(dir, "rotor.db")
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", copyPath); err != nil {
		return fail("copy the store: %v", err)
	}
	cp, err := sql.Open("sqlite", copyPath)
	if err != nil {
		return fail("%v", err)
	}
	defer cp.Close()
	res, err := cp.ExecContext(ctx, "UPDATE audit SET detail = detail || ' ' WHERE seq = (SELECT max(seq) / 2 FROM audit)")
	if err != nil {
		return fail("edit a record: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fail("edit a record: %d rows changed", n)
	}
	cp.Close()
	out := h.rotor.Run(ctx, Job{Args: []string{"-c", filepath.Join(dir, "rotor.yaml"), "audit", "verify"}})
	if out.Exit == 0 {
		return fail("rotor audit verify passed a store with an edited record: %s", lastLine(out.Stdout))
	}
	if !strings.Contains(string(out.Stderr), "audit") {
		return fail("rotor audit verify failed, but not about the chain: %s", lastLine(out.Stderr))
	}
	return nil
}
