package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"
)

// Options shape a Limiter. Zero fields take the defaults below.
type Options struct {
	Initial  float64       // calls per second to start at (20)
	Min      float64       // never slower than this (0.5)
	Max      float64       // never faster than this (500)
	Decrease float64       // multiplicative decrease on a throttle, 0 < d < 1 (0.9)
	Probe    int           // successes to climb back to the rate that throttled (300)
	Climb    time.Duration // …but no longer than this (15s)
	Cooldown time.Duration // throttles this soon after a decrease do not cut again (1s, at least 4 intervals)
	// Tolerance is the share of calls that may be throttled without a
	// decrease (0.005): an isolated throttle, a few hundred calls after the
	// last one, is noise (network jitter against a server bucket of 1,
	// another client's burst) rather than a rate too high, and cutting on
	// each would leave the rate well under what the server allows.
	Tolerance float64

	// Now and Sleep replace the clock in tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

const (
	defaultInitial   = 20
	defaultMin       = 0.5
	defaultMax       = 500
	defaultDecrease  = 0.9
	defaultProbe     = 300
	defaultCooldown  = time.Second
	defaultClimb     = 15 * time.Second
	defaultTolerance = 0.005

	// Before the first throttle the rate grows by a sixteenth per success,
	// doubling every eleven calls, like TCP's slow start: an unthrottled
	// fleet is bound by latency and concurrency within a second or two
	// instead of by a guess (a thousand calls take about 2.5 s from 20/s,
	// against 6.5 s at half per second). An overshoot hidden by a server's
	// burst is answered by the overload window (closeWindow), which drops
	// to the rate that got through.
	slowStartGain = 1.0 / 16
	// After a throttle, probing past the last ceiling is gentler: at most
	// reprobeStep calls/s per success, that is by a quarter per second.
	reprobeStep = 0.25
	// overloadFraction: when fewer than this share of the calls in a
	// cooldown window got through, the rate was several times the server's,
	// and the rate that got through is the best estimate of the server's.
	// (Against a bucket of burst 1, a rate just above the server's already
	// sees every other call throttled, and what gets through is only half
	// the server's rate: that case takes the ordinary decrease.)
	overloadFraction = 0.3
	busyFraction     = 0.75
	minWindowCalls   = 4
)

func (o Options) withDefaults() Options {
	if o.Initial <= 0 {
		o.Initial = defaultInitial
	}
	if o.Min <= 0 {
		o.Min = defaultMin
	}
	if o.Max <= 0 {
		o.Max = defaultMax
	}
	if o.Decrease <= 0 || o.Decrease >= 1 {
		o.Decrease = defaultDecrease
	}
	if o.Probe <= 0 {
		o.Probe = defaultProbe
	}
	if o.Cooldown <= 0 {
		o.Cooldown = defaultCooldown
	}
	if o.Climb <= 0 {
		o.Climb = defaultClimb
	}
	if o.Tolerance <= 0 || o.Tolerance >= 0.5 {
		o.Tolerance = defaultTolerance
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	o.Initial = clamp(o.Initial, o.Min, o.Max)
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Limiter is an adaptive client-side rate limiter for one API operation.
//
// It paces calls one slot at a time (a token bucket of burst 1) by hand
// rather than with rate.Limiter, whose reservations are handed out ahead and
// re-spaced from "now" whenever the limit changes: with callers queued, the
// rate actually sent trails the limit by the queue, and calls reserved after
// a rate increase land among calls reserved before it (against a server
// bucket of burst 1, each such collision is a throttle). Here the next slot
// is always one interval, at the current rate, after the last one taken.
type Limiter struct {
	o Options

	mu        sync.Mutex
	rate      float64
	last      time.Time // when the last slot was taken
	next      time.Time // when the next slot comes
	slowStart bool
	reprobe   bool      // slow start again, past the last ceiling: half the gain
	step      float64   // additive increase per success after slow start
	ceiling   float64   // the rate at the last throttle
	limitedAt time.Time // last time a caller had to wait: demand ≥ rate
	coolUntil time.Time
	window    bool // counting the calls that answer during a cooldown
	winStart  time.Time
	winOK     int
	winThr    int
	share     float64 // moving average of the throttled share of calls
	grants    [16]time.Time
	ngrants   int
	stats     Stats
}

// Stats counts what a Limiter has seen.
type Stats struct {
	Rate      float64 // current calls per second
	Successes int64
	Throttles int64
	Decreases int64
}

// New returns a Limiter at o.Initial calls per second.
func New(o Options) *Limiter {
	o = o.withDefaults()
	return &Limiter{o: o, rate: o.Initial, slowStart: true}
}

// Wait blocks until the next call may go, or ctx ends (then it returns the
// context's error and gives its slot back). Call it once per attempt,
// retries included, and report the outcome with OnSuccess or OnThrottle.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := l.o.Now()
		d := l.acquire(now)
		if d <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(d)) {
			return context.DeadlineExceeded
		}
		if err := l.o.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// acquire takes the slot if it has come, or says how long until it comes.
//
// Slots are not handed out ahead: a caller that must wait sleeps and asks
// again. A reservation made ahead keeps the interval of the moment it was
// made, so with many callers queued the rate actually sent would trail the
// limiter's by the length of the queue, and feedback (a throttle) would come
// that many calls late.
func (l *Limiter) acquire(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.limitedAt = now
		return l.next.Sub(now)
	}
	l.last = now
	l.next = now.Add(interval(l.rate))
	l.grants[l.ngrants%len(l.grants)] = now
	l.ngrants++
	return 0
}

// sent is the rate at which slots were actually taken lately: below the
// limiter's rate when callers did not keep up with it. Zero when unknown.
func (l *Limiter) sent() float64 {
	n := min(l.ngrants, len(l.grants))
	if n < 4 {
		return 0
	}
	newest := l.grants[(l.ngrants-1)%len(l.grants)]
	oldest := l.grants[(l.ngrants-n)%len(l.grants)]
	span := newest.Sub(oldest).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(n-1) / span
}

func interval(r float64) time.Duration { return time.Duration(float64(time.Second) / r) }

// OnSuccess records a call the server accepted (any answer but a throttle
// counts: the server had capacity for it).
func (l *Limiter) OnSuccess() {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Successes++
	l.share *= 1 - l.o.Tolerance
	if now.Before(l.coolUntil) {
		l.winOK++
		return
	}
	l.closeWindow(now)
	// Grow only when callers are waiting on the limiter; a rate nobody
	// uses proves nothing about the server.
	if l.limitedAt.IsZero() || now.Sub(l.limitedAt) > time.Second {
		return
	}
	if !l.slowStart && l.rate > l.ceiling*(1+(1-l.o.Decrease)/2) {
		// Past the rate that last throttled without a throttle: the
		// server has more room than then (or that throttle was someone
		// else's burst); find the new rate quickly again, but more gently
		// than at the start, since a server's burst can hide an overshoot.
		l.slowStart, l.reprobe = true, true
	}
	if l.slowStart {
		inc := l.rate * slowStartGain
		if l.reprobe {
			inc = math.Min(inc/2, reprobeStep)
		}
		l.setRate(l.rate + inc)
	} else {
		l.setRate(l.rate + l.step)
	}
}

// OnThrottle records a call the server throttled.
func (l *Limiter) OnThrottle() {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Throttles++
	a := l.o.Tolerance
	l.share = l.share*(1-a) + a
	if now.Before(l.coolUntil) {
		l.winThr++
		return
	}
	l.closeWindow(now)
	if now.Before(l.coolUntil) { // closeWindow cut again
		l.winThr++
		return
	}
	// One throttle lifts share to about a; a second within ln2/a calls
	// (about 140 at the default) lifts it past 1.5a.
	if l.share <= 1.5*a {
		return
	}
	from := l.rate
	if s := l.sent(); s > 0 && s < from {
		from = s // the callers, not the limiter, set the pace
	}
	l.decrease(now, from*l.o.Decrease)
}

// closeWindow ends a cooldown. If most calls in it were throttled, the rate
// was far too high: it drops under the rate the server let through, instead
// of by Decrease once per window.
func (l *Limiter) closeWindow(now time.Time) {
	if !l.window || now.Before(l.coolUntil) {
		return
	}
	l.window = false
	total := l.winOK + l.winThr
	if l.winThr == 0 || total < minWindowCalls {
		return
	}
	frac := float64(l.winOK) / float64(total)
	through := float64(l.winOK) / now.Sub(l.winStart).Seconds()
	switch {
	case frac < overloadFraction && through < l.rate/2:
		// Most calls throttled, and what got through is well under what
		// was sent (not merely late throttles of calls sent before the
		// cut): the server's rate is about what got through.
		l.decrease(now, l.o.Decrease*through)
	case frac < busyFraction && through < l.rate:
		// Still throttled after the cut, as when a server's burst hid an
		// overshoot: the server's rate lies between what got through and
		// what was sent.
		l.decrease(now, l.o.Decrease*(through+l.rate)/2)
	}
}

func (l *Limiter) decrease(now time.Time, to float64) {
	from := l.rate
	l.slowStart = false
	l.ceiling = from
	l.setRate(to)
	// Climb back to the rate that throttled over Probe successes (about one
	// throttle per Probe calls once settled), or over Climb when Probe
	// successes would take longer: at slow rates a throttle then costs a
	// larger share of calls, but a spurious one does not cost minutes.
	gap := math.Max(from-l.rate, from*(1-l.o.Decrease))
	l.step = math.Max(gap/float64(l.o.Probe), gap/(l.rate*l.o.Climb.Seconds()))
	// Calls already granted at the old rate answer during the cooldown;
	// at slow rates that takes a few intervals.
	l.coolUntil = now.Add(max(l.o.Cooldown, 4*interval(l.rate)))
	l.window, l.winStart, l.winOK, l.winThr = true, now, 0, 0
	l.stats.Decreases++
}

func (l *Limiter) setRate(r float64) {
	l.rate = clamp(r, l.o.Min, l.o.Max)
	if !l.last.IsZero() {
		l.next = l.last.Add(interval(l.rate))
	}
}

// Rate is the current rate in calls per second.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Stats returns the counts so far and the current rate.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Rate = l.rate
	return s
}

func clamp(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }
