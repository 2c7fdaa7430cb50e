package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

var _ rotation.Waiter = (*Target)(nil)

// job is one pipeline's bindings on their way through ApplyWaiting.
type job struct {
	pipeline  string
	bs        []bound
	interrupt string    // why the update may stop executions ("" : it may not)
	running   []running // what it was running when last seen busy
	next      time.Time // waiting: when to read its executions again
	delay     time.Duration
}

// firstIdlePoll is how soon a waiting pipeline is first read again.
const firstIdlePoll = time.Second

// waitPlan is one ApplyWaiting's bounds, in wall-clock time.
type waitPlan struct {
	until    time.Time // a busy pipeline waits until then (not at all when before now)
	expiryAt time.Time // OnExpiry interrupt: update busy pipelines from then on; zero: never
	why      string    // what ends a wait at until, for the Waiting reason
}

func (t *Target) waitPlan(w rotation.WaitBounds, now time.Time) waitPlan {
	p := waitPlan{until: now.Add(t.cfg.MaxWait), why: fmt.Sprintf("in_flight: wait, still busy after max_wait %s", t.cfg.MaxWait)}
	switch {
	case w.NoWait:
		p.until, p.why = now, "it moves as soon as the pipeline is idle"
	case t.cfg.InFlight == InFlightSkip:
		p.until, p.why = now, "in_flight: skip"
	}
	if !w.HeldExpires.IsZero() && t.cfg.OnExpiry == OnExpiryInterrupt {
		p.expiryAt = w.HeldExpires.Add(-ExpiryMargin)
		if p.expiryAt.Before(p.until) {
			p.until = p.expiryAt
		}
	}
	return p
}

// ApplyWaiting is Apply with bounds on waiting (rotation.Waiter). Each
// pipeline is read, checked idle and updated by a pool of Concurrency
// workers. A busy pipeline does not hold a worker while it waits: it moves
// to a waiting room whose executions are read again after a second, then
// less and less often (at most every IdlePoll), and goes back to the
// workers once idle. A wait ends:
//   - when the pipeline is idle: it is updated (and may be found busy
//     again: a new execution started in between);
//   - at max_wait (at once with in_flight: skip or w.NoWait): its bindings
//     are reported Waiting, unchanged, holding the old token;
//   - ExpiryMargin before w.HeldExpires, with on_expiry: interrupt: the
//     pipeline is updated, stopping what runs, and reported Interrupted.
//
// With in_flight: interrupt, pipelines are updated whether busy or not.
func (t *Target) ApplyWaiting(ctx context.Context, tok token.Token, bindings []rotation.Binding, w rotation.WaitBounds, report func(rotation.Result)) {
	defer t.saveInventory(ctx)
	rep := t.newReporter(len(bindings), report)
	plan := t.waitPlan(w, time.Now())

	var jobs []*job
	byName := map[string]*job{}
	for _, b := range bindings {
		wh, err := t.locate(b)
		if err != nil {
			rep.done(rotation.Result{BindingID: b.ID, Err: err})
			continue
		}
		j, ok := byName[wh.pipeline]
		if !ok {
			j = &job{pipeline: wh.pipeline}
			if t.cfg.InFlight == InFlightInterrupt {
				j.interrupt = "in_flight: interrupt"
			}
			byName[wh.pipeline] = j
			jobs = append(jobs, j)
		}
		j.bs = append(j.bs, bound{b, wh})
	}
	if len(jobs) == 0 {
		return
	}

	var left sync.WaitGroup // jobs not yet reported
	left.Add(len(jobs))
	queue := make(chan *job, len(jobs))
	for _, j := range jobs {
		queue <- j
	}
	room := &waitingRoom{t: t, plan: plan, queue: queue, rep: rep, left: &left, wake: make(chan struct{}, 1)}
	finish := func(j *job, results []rotation.Result) {
		for _, r := range results {
			rep.done(r)
		}
		left.Done()
	}
	room.finish = finish

	var workers sync.WaitGroup
	for range min(t.cfg.Concurrency, len(jobs)) {
		workers.Go(func() {
			for j := range queue {
				if err := ctx.Err(); err != nil {
					finish(j, resultsFor(j.bs, err, nil))
					continue
				}
				stopped, err := t.applyPipeline(ctx, tok, j.pipeline, j.bs, j.interrupt != "")
				if b := (*busyError)(nil); errors.As(err, &b) {
					room.busy(ctx, j, b.running)
					continue
				}
				if len(stopped) > 0 {
					t.log.WarnContext(ctx, "update stopped executions in progress", "pipeline", j.pipeline, "executions", stopped, "why", j.interrupt)
				}
				finish(j, resultsFor(j.bs, err, stopped))
			}
		})
	}
	roomDone := make(chan struct{})
	go func() {
		defer close(roomDone)
		room.run(ctx)
	}()
	left.Wait()
	close(queue)
	room.close()
	workers.Wait()
	<-roomDone
}

// resultsFor is one result per binding of a pipeline.
func resultsFor(bs []bound, err error, stopped []string) []rotation.Result {
	out := results(bs, same(err, len(bs)))
	if err == nil && len(stopped) > 0 {
		for i := range out {
			out[i].Interrupted = slices.Clone(stopped)
		}
	}
	return out
}

// waitingRoom holds busy pipelines until they are idle or their wait ends.
type waitingRoom struct {
	t      *Target
	plan   waitPlan
	queue  chan<- *job
	rep    *reporter
	left   *sync.WaitGroup
	finish func(*job, []rotation.Result)
	wake   chan struct{}

	mu      sync.Mutex
	closed  bool
	waiting []*job
}

// busy takes a pipeline that was found busy: it waits, is left Waiting, or
// goes back to be updated anyway, as the plan says.
func (r *waitingRoom) busy(ctx context.Context, j *job, run []running) {
	if err := ctx.Err(); err != nil {
		r.finish(j, resultsFor(j.bs, err, nil))
		return
	}
	j.running = run
	if r.keepWaiting(j, time.Now()) {
		r.mu.Lock()
		r.waiting = append(r.waiting, j)
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// keepWaiting decides for a pipeline just found busy: updated anyway
// before the old token expires, left Waiting once its wait is over, or
// waiting on (true: scheduled for its next read).
func (r *waitingRoom) keepWaiting(j *job, now time.Time) bool {
	switch {
	case r.expired(now):
		r.interrupt(j, onExpiry)
	case !now.Before(r.plan.until):
		r.leave(j)
	default:
		r.schedule(j, now)
		return true
	}
	return false
}

// schedule sets when a waiting job's executions are read next: soon at
// first, then less and less often, up to IdlePoll.
func (r *waitingRoom) schedule(j *job, now time.Time) {
	switch {
	case j.delay == 0:
		j.delay = min(firstIdlePoll, r.t.cfg.IdlePoll)
	default:
		j.delay = min(2*j.delay, r.t.cfg.IdlePoll)
	}
	j.next = now.Add(j.delay)
}

// onExpiry is why a wait ended by the old token's expiry stops executions.
const onExpiry = "on_expiry: interrupt (the token the pipeline holds expires soon)"

// expired reports whether busy pipelines must be updated now, before the
// token they hold expires.
func (r *waitingRoom) expired(now time.Time) bool {
	return !r.plan.expiryAt.IsZero() && !now.Before(r.plan.expiryAt)
}

// interrupt sends a job back to be updated whether busy or not.
func (r *waitingRoom) interrupt(j *job, why string) {
	j.interrupt = why
	r.queue <- j
}

// leave reports a job's bindings Waiting: they keep the old token.
func (r *waitingRoom) leave(j *job) {
	ids := make([]string, len(j.running))
	for i, x := range j.running {
		ids[i] = x.String()
	}
	why := fmt.Sprintf("pipeline %s is running execution %s, which an update would stop: %s; the binding keeps the old token", j.pipeline, strings.Join(ids, ", "), r.plan.why)
	out := make([]rotation.Result, len(j.bs))
	for i, x := range j.bs {
		out[i] = rotation.Result{BindingID: x.b.ID, Waiting: why}
	}
	r.finish(j, out)
}

func (r *waitingRoom) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run reads each waiting pipeline's executions when it is due (see
// schedule) and at the end of the wait, until closed.
func (r *waitingRoom) run(ctx context.Context) {
	for {
		r.mu.Lock()
		closed := r.closed
		next := time.Now().Add(r.t.cfg.IdlePoll)
		for _, j := range r.waiting {
			if j.next.Before(next) {
				next = j.next
			}
		}
		if len(r.waiting) > 0 && r.plan.until.Before(next) {
			next = r.plan.until
		}
		r.mu.Unlock()
		if closed {
			return
		}
		timer := time.NewTimer(max(time.Until(next), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			for {
				r.drain(ctx.Err())
				r.mu.Lock()
				closed := r.closed
				r.mu.Unlock()
				if closed {
					return
				}
				<-r.wake
			}
		case <-r.wake:
			timer.Stop()
			continue
		case <-timer.C:
		}
		r.poll(ctx)
	}
}

// poll reads the executions of each waiting pipeline that is due, or
// whose wait ends now.
func (r *waitingRoom) poll(ctx context.Context) {
	now := time.Now()
	r.mu.Lock()
	var due, keep []*job
	for _, j := range r.waiting {
		if !now.Before(j.next) || !now.Before(r.plan.until) || r.expired(now) {
			due = append(due, j)
		} else {
			keep = append(keep, j)
		}
	}
	r.waiting = keep
	r.mu.Unlock()
	var (
		mu      sync.Mutex
		handled = map[*job]bool{}
	)
	keep = nil
	forEach(ctx, r.t.cfg.Concurrency, due, func(ctx context.Context, j *job) {
		mu.Lock()
		handled[j] = true
		mu.Unlock()
		if r.expired(time.Now()) {
			r.interrupt(j, onExpiry)
			return
		}
		run, err := r.t.inProgress(ctx, j.pipeline)
		if err != nil || len(run) == 0 {
			r.queue <- j // idle (or unreadable: the worker finds out why)
			return
		}
		j.running = run
		if r.keepWaiting(j, time.Now()) {
			mu.Lock()
			keep = append(keep, j)
			mu.Unlock()
		}
	})
	for _, j := range due {
		if !handled[j] { // forEach stopped early (ctx ended): drain reports it
			keep = append(keep, j)
		}
	}
	r.mu.Lock()
	r.waiting = append(keep, r.waiting...)
	r.mu.Unlock()
}

// drain reports every waiting job with err (the context ended).
func (r *waitingRoom) drain(err error) {
	r.mu.Lock()
	jobs := r.waiting
	r.waiting = nil
	r.mu.Unlock()
	for _, j := range jobs {
		r.finish(j, resultsFor(j.bs, err, nil))
	}
}
