package torture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// The audit events a run passes on its way, by path.
var (
	successEvents   = []string{"started", "discovered", "minted", "checked", "applied", "verified", "promoted"}
	rollbackEvents  = []string{"started", "discovered", "minted", "checked", "failed", "rolled_back", "run.rolled_back"}
	checkFailEvents = []string{"failed", "run.failed"}
	// A github-app-user credential's mint is a refresh with steps of its
	// own (internal/source/appuser): the grant marked refreshing, GitHub's
	// answer in memory only, the answer sealed and recorded.
	refreshEvents = []string{"refresh.marked", "refresh.answered", "refresh.recorded"}
	userEvents    = slices.Concat(successEvents[:2], refreshEvents, successEvents[2:])
	// A failed run of a source whose mint ends the previous token cannot
	// roll back: it rolls forward (the new token stays current).
	rollForwardEvents = []string{"failed", "run.failed"}
)

// events is the path a clean run of the worker's credential takes.
func (w *worker) events() []string {
	switch {
	case w.c.Doomed != "":
		return rollbackEvents
	case w.c.Source == appUser:
		return userEvents
	}
	return successEvents
}

// failEvents are the steps of a run whose apply fails.
func (w *worker) failEvents() []string {
	if w.c.Source == appUser {
		return rollForwardEvents
	}
	return []string{"failed", "rolled_back", "run.rolled_back"}
}

// plan is how one rotation is tortured.
type plan struct {
	label     string
	crashAt   string        // ROTOR_CRASH_AT of the first process
	killAfter time.Duration // SIGKILL the first process this long after start
	// resumeCrashAt arms the first resume too: a crash while recovering
	// from a crash.
	resumeCrashAt string
	forceFail     bool // one of the credential's pipelines refuses UpdatePipeline: apply fails, rollback
	checkFail     bool // GitHub fails the repository check: check fails before any binding changes
	badToken      bool // personal: the person's token lacks a scope: refused
	duplicate     bool // a second rotor process rotates the same credential at the same moment (I5)
}

// worker drives one credential: a person (or a scheduler) rotating it again
// and again.
type worker struct {
	h       *Harness
	c       Cred
	pending token.Token // personal: the token given to the run in flight
	typical time.Duration
	retired time.Time
	runs    atomic.Int64 // finished runs, from rotor's history
	// first are plans chaos runs before its random ones, all of them
	// even when the minimums are met sooner.
	first []plan
}

func (h *Harness) workers() []*worker {
	var out []*worker
	for _, c := range h.layout.Creds {
		out = append(out, &worker{h: h, c: c, typical: time.Second})
	}
	return out
}

// sweep is the deterministic part: a crash at every step boundary of the
// credential's paths, then the same with a second crash during the resume.
func (w *worker) sweep() []plan {
	var out []plan
	events := w.events()
	for _, e := range events {
		out = append(out, plan{label: "crash at " + e, crashAt: e})
	}
	for _, e := range events {
		out = append(out, plan{label: "crash at " + e + ", then at the resume's first step", crashAt: e, resumeCrashAt: "*:1"})
	}
	if w.c.Doomed == "" {
		for _, e := range w.failEvents() {
			out = append(out, plan{label: "apply fails, crash at " + e, forceFail: true, crashAt: e})
		}
	}
	for _, e := range checkFailEvents {
		out = append(out, plan{label: "check fails, crash at " + e, checkFail: true, crashAt: e})
	}
	if w.c.Source == personal {
		out = append(out, plan{label: "token lacks a scope, crash at failed", badToken: true, crashAt: "failed"})
	}
	return out
}

// chaos picks a random plan.
func (w *worker) chaos() plan {
	h := w.h
	events := w.events()
	switch n := h.intn(100); {
	case n < 30:
		return plan{label: "clean"}
	case n < 58:
		return plan{label: "random kill", killAfter: h.between(0, w.typical*13/10)}
	case n < 80:
		e := events[h.intn(len(events))]
		p := plan{label: "crash at " + e, crashAt: e}
		if h.chance(0.3) {
			p.resumeCrashAt = fmt.Sprintf("*:%d", 1+h.intn(3))
		}
		return p
	case n < 86 && w.c.Doomed == "":
		fe := append([]string{""}, w.failEvents()...)
		e := fe[h.intn(len(fe))]
		return plan{label: "apply fails, crash at " + e, forceFail: true, crashAt: e}
	case n < 91:
		return plan{label: "check fails", checkFail: true, crashAt: []string{"", "failed"}[h.intn(2)]}
	case n < 95 && w.c.Source == personal:
		return plan{label: "token lacks a scope", badToken: true}
	default:
		return plan{label: "two processes at once", duplicate: true}
	}
}

// rotate runs one rotation under p and settles it: resumes until no run of
// the credential is open; then, for a github-app-user credential, a person
// authorizes rotor again if rotor says one is needed.
func (w *worker) rotate(ctx context.Context, p plan) error {
	if err := w.rotateOnce(ctx, p); err != nil {
		return err
	}
	_, err := w.personNeeded(ctx)
	return err
}

func (w *worker) rotateOnce(ctx context.Context, p plan) error {
	h := w.h
	args := []string{"rotate", w.c.Name}
	var stdin token.Token
	if w.c.Source == personal {
		if w.pending.IsZero() {
			scopes := []string{"repo", "admin:repo_hook"}
			if p.badToken {
				scopes = []string{"repo"}
			}
			t, err := h.newPAT(w.c.Name, scopes)
			if err != nil {
				return err
			}
			w.pending = t
		}
		args, stdin = append(args, "--token-stdin"), w.pending
	}
	force := "force-" + w.c.Name
	if p.forceFail || p.checkFail {
		kind := "forced-apply-failure"
		if p.checkFail {
			kind = "forced-check-failure"
		}
		defer h.faults.record(kind, time.Now())
	}
	if p.forceFail {
		victim := w.c.Pipelines[0]
		h.faults.Set(force, fault.Rule{Service: codepipeline.Service, Operation: "UpdatePipeline", Resource: victim, Fail: true})
	}
	if p.checkFail {
		h.faults.Set(force, fault.Rule{Service: github.Service, Operation: "GET /repos/{owner}/{repo}", Resource: user + "/" + w.c.Repo(), Fail: true})
	}
	defer h.faults.Set(force)
	job := Job{Args: args, Stdin: stdin, CrashAt: p.crashAt, KillAfter: p.killAfter}
	var res Result
	if p.duplicate {
		var wg sync.WaitGroup
		var other Result
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(h.between(0, 30*time.Millisecond))
			other = h.rotor.Run(ctx, job)
		}()
		res = h.rotor.Run(ctx, job)
		wg.Wait()
		h.note("%s: two at once: %s | %s", w.c.Name, res, other)
	} else {
		res = h.rotor.Run(ctx, job)
	}
	if !res.Killed && res.Exit == 0 && p.crashAt == "" {
		w.typical = (w.typical*3 + res.Took) / 4
	}
	if w.c.Source == appUser && !res.Killed && res.Exit != 0 && res.Took < 500*time.Millisecond {
		// A refresh that cannot reach GitHub fails in milliseconds (the
		// token endpoint has no retries: the grant stays refreshing and
		// the next run asks again); a person waits a moment rather than
		// pile up failed runs while the fault lasts.
		time.Sleep(500 * time.Millisecond)
	}
	if !p.duplicate && !res.Killed && (res.Exit == 0 || res.Exit == 3 || res.Exit == 4) {
		// The run finished: promoted (the person's token is current; with
		// 4, some bindings wait for their pipeline), or rolled back (it
		// reached a binding, so rotor revoked it). Nothing to resume, and
		// no need to ask rotor.
		w.runs.Add(1)
		w.pending = token.Token{}
		return nil
	}
	if bytes.Contains(res.Stderr, []byte("held by")) {
		time.Sleep(h.opts.LeaseTTL / 3) // a killed process's lease: it lapses soon
	} else if res.Exit > 0 && !res.Killed && res.Exit != 3 {
		h.note("%s (%s): %s: %s", w.c.Name, p.label, res, lastLine(res.Stderr))
	}
	return w.settle(ctx, p.resumeCrashAt)
}

// settle resumes the credential's open run until there is none (the
// daemon does this at start; a person with rotate --resume).
func (w *worker) settle(ctx context.Context, crashAt string) error {
	h := w.h
	for attempt := 0; ; attempt++ {
		hi, err := h.history(ctx, w.c.Name)
		if err != nil {
			return err
		}
		run, open := hi.open()
		if !open {
			w.closed(hi)
			return nil
		}
		if attempt >= 150 {
			return fmt.Errorf("%s: run %d still open after %d resumes (step %s, failing %v): %s", w.c.Name, run.ID, attempt, run.Step, run.Failing, run.Error)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		args := []string{"rotate", w.c.Name, "--resume"}
		var stdin token.Token
		if w.c.Source == personal {
			if w.pending.IsZero() {
				// A run left open by someone else (a duplicate process):
				// it waits for a token; give it a fresh one.
				if w.pending, err = h.newPAT(w.c.Name, []string{"repo", "admin:repo_hook"}); err != nil {
					return err
				}
			}
			args, stdin = append(args, "--token-stdin"), w.pending
		}
		job := Job{Args: args, Stdin: stdin}
		if attempt == 0 {
			job.CrashAt = crashAt
		}
		res := h.rotor.Run(ctx, job)
		switch {
		case res.Killed:
		case bytes.Contains(res.Stderr, []byte("held by")):
			time.Sleep(h.opts.LeaseTTL / 3)
		case res.Exit != 0 && res.Exit != 3 && res.Exit != 4:
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// closed is called once no run is open: a person's token that rotor did
// not take (refused, or its run failed before it was recorded) is deleted
// in GitHub by the person, as rotor tells them.
func (w *worker) closed(hi history) {
	runs := 0
	for _, r := range hi.Runs {
		if r.Status != rotation.RunRunning {
			runs++
		}
	}
	w.runs.Store(int64(runs))
	if w.pending.IsZero() {
		return
	}
	fp := w.pending.Fingerprint()
	v, ok := hi.version(fp)
	switch {
	case ok && v.State != rotation.VersionRejected:
		// rotor took it: current, previous or retired (a rollback revoked it).
	case !ok && hi.lastRunFailedBeforeMint():
		// The run failed before it asked for a token: keep it for the next.
		return
	default:
		if err := w.h.deletePAT(fp); err != nil {
			w.h.note("%s: delete refused token %s: %v", w.c.Name, fp, err)
		}
	}
	w.pending = token.Token{}
}

func (hi history) lastRunFailedBeforeMint() bool {
	return len(hi.Runs) > 0 && hi.Runs[0].NewSeq == 0 && hi.Runs[0].Status == rotation.RunFailed
}

// retire revokes previous versions whose grace ended, sometimes crashing
// right after a revocation was recorded.
func (w *worker) retire(ctx context.Context, crash bool) {
	h := w.h
	if time.Since(w.retired) < h.opts.Grace*3/2 {
		return
	}
	job := Job{Args: []string{"retire", w.c.Name}}
	if crash {
		job.CrashAt = "retired"
	}
	res := h.rotor.Run(ctx, job)
	if res.Killed {
		res = h.rotor.Run(ctx, Job{Args: job.Args})
	}
	if res.Exit == 0 {
		w.retired = time.Now()
	}
}

// Phase runs fn for every worker at once and waits.
func (h *Harness) phase(ctx context.Context, name string, ws []*worker, fn func(context.Context, *worker) error) error {
	h.logf("phase %s", name)
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx, w)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Sweep crashes every credential at every step boundary.
func (h *Harness) Sweep(ctx context.Context, ws []*worker, resume bool) error {
	return h.phase(ctx, "sweep", ws, func(ctx context.Context, w *worker) error {
		for _, p := range w.sweep() {
			if p.resumeCrashAt != "" && !resume {
				continue
			}
			if err := w.rotate(ctx, p); err != nil {
				return fmt.Errorf("%s: %s: %w", w.c.Name, p.label, err)
			}
			w.retire(ctx, false)
		}
		// A crash right after a retirement was recorded.
		time.Sleep(h.opts.Grace)
		w.retired = time.Time{}
		w.retire(ctx, true)
		return nil
	})
}

// Chaos rotates every credential with random crashes while faults come and
// go, until the minimums are met or the budget is spent.
func (h *Harness) Chaos(ctx context.Context, ws []*worker, until func() bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		h.injectFaults(ctx)
	}()
	err := h.phase(ctx, "chaos", ws, func(ctx context.Context, w *worker) error {
		for (!until() || len(w.first) > 0) && ctx.Err() == nil {
			p := w.chaos()
			if len(w.first) > 0 {
				p, w.first = w.first[0], w.first[1:]
			}
			if err := w.rotate(ctx, p); err != nil {
				return fmt.Errorf("%s: %s: %w", w.c.Name, p.label, err)
			}
			w.retire(ctx, h.chance(0.15))
		}
		return nil
	})
	cancel()
	<-faultsDone
	return err
}

// injectFaults runs one fault episode after another until ctx ends.
func (h *Harness) injectFaults(ctx context.Context) {
	db := h.opts.Dir + "/rotor.db"
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.between(300*time.Millisecond, 1500*time.Millisecond)):
		}
		kind := episodeKinds[h.intn(len(episodeKinds))]
		d := h.between(500*time.Millisecond, 2500*time.Millisecond)
		switch kind {
		case "store-locked":
			// Well inside the lease (renewed every third of it) and
			// rotor's busy timeout: rotor must only wait.
			d = h.between(200*time.Millisecond, h.opts.LeaseTTL/3)
		case "store-locked-past-lease", "rotor-paused":
			// Longer than the lease: the process that held it must stop
			// at its next step, and another may take the run over.
			d = h.between(h.opts.LeaseTTL*5/4, h.opts.LeaseTTL*2)
		}
		h.rngMu.Lock()
		seed := h.rng.Uint64()
		h.rngMu.Unlock()
		if err := h.faults.Episode(ctx, kind, d, db, newRand(seed)); err != nil && ctx.Err() == nil {
			h.note("fault %s: %v", kind, err)
		}
	}
}

// serveAvailable reports whether this rotor has `rotor serve`.
func (h *Harness) serveAvailable(ctx context.Context) bool {
	res := h.rotor.Run(ctx, Job{Args: []string{"serve", "--help"}, Timeout: 30 * time.Second})
	return res.Exit == 0
}

// Serve runs rotor serve, which rotates the github-app credentials on their
// schedule and retires every credential's previous tokens, and kills it
// again and again (at crash points and at random moments), while people
// keep rotating the personal-token credentials and faults come and go.
func (h *Harness) Serve(ctx context.Context, ws []*worker, d time.Duration) error {
	if !h.serveAvailable(ctx) {
		h.logf("phase serve: SKIPPED: this rotor has no serve command")
		h.note("serve phase skipped: rotor has no serve command")
		return nil
	}
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	end := time.Now().Add(d)
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		h.injectFaults(ctx)
	}()
	var people, users []*worker
	for _, w := range ws {
		switch w.c.Source {
		case personal:
			people = append(people, w)
		case appUser:
			users = append(users, w)
		}
	}
	// The daemon refreshes the github-app-user credentials; a person
	// authorizes one again when rotor says it needs one.
	// The person finishes an authorization begun before the end (the
	// phase's own context ends first: it would kill rotor authorize).
	watched := make(chan error, 1)
	go func() { watched <- h.watchGrants(outer, users, end) }()
	peopleDone := make(chan error, 1)
	go func() {
		peopleDone <- h.phase(ctx, "serve (people rotating personal tokens)", people, func(ctx context.Context, w *worker) error {
			for time.Now().Before(end) && ctx.Err() == nil {
				p := w.chaos()
				p.duplicate = false
				if err := w.rotate(ctx, p); err != nil {
					return fmt.Errorf("%s: %s: %w", w.c.Name, p.label, err)
				}
			}
			return nil
		})
	}()
	// People also ask the daemon for rotations through its API, which
	// bypasses the backoff that failed runs earn.
	var current atomic.Pointer[Daemon]
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		h.askDaemon(ctx, &current, end)
	}()
	var daemonErr error
	for time.Now().Before(end) && ctx.Err() == nil {
		job := Job{Args: []string{"serve", "--tick", "100ms", "--workers", "4", "--listen", "127.0.0.1:0"}}
		crash := h.chance(0.5)
		if crash {
			events := slices.Concat(successEvents, []string{"failed", "rolled_back", "run.rolled_back", "retired"})
			if len(h.layout.userCreds()) > 0 {
				events = append(events, refreshEvents...)
			}
			job.CrashAt = fmt.Sprintf("%s:%d", events[h.intn(len(events))], 1+h.intn(2))
		}
		dmn, err := h.rotor.Start(ctx, job)
		if err != nil {
			daemonErr = err
			break
		}
		current.Store(dmn)
		life := h.between(300*time.Millisecond, 4*time.Second)
		select {
		case <-dmn.Done():
			res := dmn.Result()
			if !res.Killed {
				daemonErr = fmt.Errorf("rotor serve stopped by itself: %s: %s", res, lastLine(res.Stderr))
			}
		case <-time.After(life):
			dmn.Kill()
		}
		if daemonErr != nil {
			break
		}
	}
	// The last daemon stops gracefully.
	if daemonErr == nil && ctx.Err() == nil {
		dmn, err := h.rotor.Start(ctx, Job{Args: []string{"serve", "--tick", "100ms", "--listen", "127.0.0.1:0"}})
		if err == nil {
			// SIGTERM once it serves (and has looked at every credential
			// once), not while it is still opening the store.
			for deadline := time.Now().Add(30 * time.Second); dmn.Addr() == "" && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond)
			res := dmn.Stop(30 * time.Second)
			if res.Killed {
				h.note("rotor serve did not stop within 30s of SIGTERM: %s", res)
			} else if res.Exit != 0 {
				daemonErr = fmt.Errorf("rotor serve after SIGTERM: %s: %s", res, lastLine(res.Stderr))
			}
		}
	}
	err := <-peopleDone
	cancel()
	<-faultsDone
	<-asked
	return errors.Join(daemonErr, err, <-watched)
}

// askDaemon asks the running daemon, now and then, to rotate a github-app
// or github-app-user credential: POST /v1/credentials/NAME/rotate with the
// API token.
func (h *Harness) askDaemon(ctx context.Context, current *atomic.Pointer[Daemon], end time.Time) {
	b, err := os.ReadFile(filepath.Join(h.opts.Dir, "api.token"))
	if err != nil {
		h.note("serve: read api.token: %v", err)
		return
	}
	bearer := "Bearer " + strings.TrimSpace(string(b))
	var apps []string
	for _, c := range h.layout.Creds {
		if c.Source == app || c.Source == appUser {
			apps = append(apps, c.Name)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(end) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.between(200*time.Millisecond, 800*time.Millisecond)):
		}
		d := current.Load()
		if d == nil {
			continue
		}
		addr := d.Addr()
		if addr == "" {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/credentials/"+apps[h.intn(len(apps))]+"/rotate", strings.NewReader(`{"reason":"torture"}`))
		req.Header.Set("Authorization", bearer)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// Settle lifts every fault but the doomed pipeline, finishes every open
// run, waits out the grace period and retires every previous token, so
// that the invariants of a world at rest can be checked.
func (h *Harness) Settle(ctx context.Context, ws []*worker) error {
	if h.deploy != nil {
		h.deploy.pause() // resumed after the check
	}
	h.faults.Set("episode")
	h.gh.down.Store(false)
	h.gh.lose.Store(nil)
	h.cp.lose.Store(nil)
	if err := h.phase(ctx, "settle", ws, func(ctx context.Context, w *worker) error {
		if w.c.Source == appUser {
			return w.settleUser(ctx)
		}
		return w.settle(ctx, "")
	}); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		// Bindings still waiting for their pipeline move now that no
		// pipeline deploys: a person's rotate --resume.
		for _, w := range ws {
			if n, err := h.stragglers(ctx, w.c.Name); err != nil {
				return err
			} else if n > 0 {
				res := h.rotor.Run(ctx, Job{Args: []string{"rotate", w.c.Name, "--resume"}})
				if res.Exit != 0 && res.Exit != 4 && !bytes.Contains(res.Stderr, []byte("held by")) {
					return fmt.Errorf("settle: move %d straggler(s) of %s: %s: %s", n, w.c.Name, res, lastLine(res.Stderr))
				}
			}
		}
		time.Sleep(h.opts.Grace + 100*time.Millisecond)
		res := h.rotor.Run(ctx, Job{Args: []string{"retire"}})
		if res.Exit != 0 && !bytes.Contains(res.Stderr, []byte("held by")) {
			return fmt.Errorf("settle: %s: %s", res, lastLine(res.Stderr))
		}
		left := 0
		for _, w := range ws {
			hi, err := h.history(ctx, w.c.Name)
			if err != nil {
				return err
			}
			left += len(hi.byState(rotation.VersionPrevious))
			if _, open := hi.open(); open {
				left++
			}
			n, err := h.stragglers(ctx, w.c.Name)
			if err != nil {
				return err
			}
			left += n
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("settle: %d previous versions, open runs or stragglers left after a minute", left)
		}
	}
	// Let every pipeline fetch with what it holds now.
	time.Sleep(3*h.opts.PollInterval + 100*time.Millisecond)
	return nil
}
