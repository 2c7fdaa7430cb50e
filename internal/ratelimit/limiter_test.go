package ratelimit

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// clock is a fake clock the limiter reads; Sleep advances it.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }
func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.t = c.t.Add(d)
	return nil
}
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFake(o Options) (*Limiter, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	o.Now, o.Sleep = c.now, c.sleep
	return New(o), c
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestLimiter_Wait(t *testing.T) {
	l, c := newFake(Options{Initial: 10})
	start := c.now()
	for range 11 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// burst 1: the first call goes at once, the next ten 100ms apart.
	if got := c.now().Sub(start); got != time.Second {
		t.Errorf("11 calls at 10/s took %v, want 1s", got)
	}
}

func TestLimiter_WaitContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline before the slot", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour) // real deadline, far from the fake clock
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := newFake(Options{Initial: 1})
			c.t = time.Now() // so that the real deadline means something
			if err := l.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tt.want == context.DeadlineExceeded {
				l.setRateForTest(1.0 / 7200) // next slot in two hours
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			if err := l.Wait(ctx); !errors.Is(err, tt.want) {
				t.Errorf("Wait = %v, want %v", err, tt.want)
			}
		})
	}
}

func (l *Limiter) setRateForTest(r float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.o.Min = r
	l.setRate(r)
}

func TestLimiter_SlowStart(t *testing.T) {
	tests := []struct {
		name    string
		initial float64
		want    float64 // after 12 limited successes
	}{
		{"a sixteenth per success", 10, 10 * math.Pow(1+1.0/16, 12)},
		{"a sixteenth per success when slow", 2, 2 * math.Pow(1+1.0/16, 12)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := newFake(Options{Initial: tt.initial})
			l.OnSuccess() // nobody waited yet: no growth
			if l.Rate() != tt.initial {
				t.Fatalf("rate grew without demand: %v", l.Rate())
			}
			for range 12 {
				_ = l.Wait(context.Background())
				l.acquire(c.now()) // a second caller finds the slot taken: demand ≥ rate
				l.OnSuccess()
			}
			if r := l.Rate(); !near(r, tt.want) {
				t.Errorf("after 12 limited successes rate = %v, want %v", r, tt.want)
			}
			c.advance(10 * time.Second) // demand gone
			before := l.Rate()
			l.OnSuccess()
			if l.Rate() != before {
				t.Errorf("rate grew %v → %v with no caller waiting", before, l.Rate())
			}
		})
	}
}

func TestLimiter_OnThrottle(t *testing.T) {
	l, c := newFake(Options{Initial: 20, Decrease: 0.5, Probe: 10, Cooldown: time.Second})
	busy := func() { l.acquire(c.now()); l.acquire(c.now()) } // a waiting caller

	l.OnThrottle()
	if l.Rate() != 20 {
		t.Fatalf("an isolated throttle changed the rate to %v", l.Rate())
	}
	l.OnThrottle()
	if !near(l.Rate(), 10) {
		t.Fatalf("after a second throttle rate = %v, want 10", l.Rate())
	}
	// Throttles of calls sent before the cut do not cut again.
	c.advance(100 * time.Millisecond)
	l.OnThrottle()
	l.OnSuccess()
	l.OnSuccess()
	l.OnSuccess()
	if !near(l.Rate(), 10) {
		t.Fatalf("throttle within cooldown changed rate to %v", l.Rate())
	}
	// After the cooldown: additive increase of (20-10)/10 per success.
	c.advance(time.Second)
	busy()
	l.OnSuccess()
	if !near(l.Rate(), 11) {
		t.Fatalf("after one success rate = %v, want 11", l.Rate())
	}
	for range 9 {
		busy()
		l.OnSuccess()
	}
	if !near(l.Rate(), 20) {
		t.Fatalf("after Probe successes rate = %v, want back at 20", l.Rate())
	}
	if s := l.Stats(); s.Throttles != 3 || s.Successes != 13 || s.Decreases != 1 {
		t.Errorf("stats = %+v", s)
	}
}

// TestLimiter_Overload checks the escape from a rate far above the server's:
// when most calls in a cooldown window are throttled, the rate drops to the
// share that got through instead of 10% per window.
func TestLimiter_Overload(t *testing.T) {
	l, c := newFake(Options{Initial: 400, Decrease: 0.9, Cooldown: time.Second})
	l.OnThrottle() // tolerated
	l.OnThrottle() // 360
	for i := range 100 {
		c.advance(time.Millisecond)
		if i%10 == 0 {
			l.OnSuccess()
		} else {
			l.OnThrottle()
		}
	}
	c.advance(time.Second)
	l.OnThrottle()
	// 10 calls got through in 1.1s: the server's rate is about 9/s, and the
	// limiter drops to Decrease × that, not to 360 × 0.9.
	if r, want := l.Rate(), 0.9*10/1.1; !near(r, want) {
		t.Errorf("rate after an overloaded window = %v, want %v", r, want)
	}
}

func TestLimiter_Bounds(t *testing.T) {
	l, c := newFake(Options{Initial: 1000, Min: 2, Max: 50, Cooldown: time.Nanosecond})
	if l.Rate() != 50 {
		t.Errorf("initial above max: rate %v", l.Rate())
	}
	for range 100 {
		c.advance(time.Second)
		l.OnThrottle()
	}
	if l.Rate() != 2 {
		t.Errorf("rate fell to %v, below min 2", l.Rate())
	}
}

func TestGroup_For(t *testing.T) {
	g := NewGroup(Options{Initial: 5})
	a, b := g.For("GetPipeline"), g.For("UpdatePipeline")
	if a == b || g.For("GetPipeline") != a {
		t.Fatal("For must return one limiter per operation")
	}
	a.OnThrottle()
	s := g.Stats()
	if s["GetPipeline"].Throttles != 1 || s["UpdatePipeline"].Throttles != 0 || s["UpdatePipeline"].Rate != 5 {
		t.Errorf("stats = %+v", s)
	}
}

// The simulation below runs workers against a server token bucket on a
// virtual clock: deterministic, fast, and the same shape as the benchmark
// (N pipelines, the emulator throttling at R per second with burst 1).

type simEvent struct {
	at     time.Time
	seq    int
	worker int
	kind   int // 0 want a slot, 1 arrive at the server, 2 answer
	ok     bool
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type simResult struct {
	elapsed         time.Duration
	calls, throttle int // after warm-up
}

func simulate(o Options, serverRate float64, serverBurst int, drained bool, calls, workers int, latency, jitter, warmup time.Duration) simResult {
	c := &clock{t: time.Unix(0, 0)}
	o.Now = c.now
	l := New(o)
	server := rate.NewLimiter(rate.Limit(serverRate), serverBurst)
	if drained { // someone else just used the bucket: the first call is throttled
		server.AllowN(c.now(), serverBurst)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := c.now()
	q := &simQueue{}
	seq := 0
	push := func(e simEvent) { seq++; e.seq = seq; heap.Push(q, e) }
	for w := range workers {
		push(simEvent{at: start, worker: w})
	}
	var res simResult
	done := 0
	for done < calls && q.Len() > 0 {
		e := heap.Pop(q).(simEvent)
		c.t = e.at
		switch e.kind {
		case 0:
			if d := l.acquire(c.now()); d > 0 {
				push(simEvent{at: c.now().Add(d), worker: e.worker})
				continue
			}
			j := time.Duration(rng.Int64N(int64(jitter) + 1))
			push(simEvent{at: c.now().Add(j), worker: e.worker, kind: 1})
		case 1:
			ok := server.AllowN(c.now(), 1)
			if c.now().Sub(start) >= warmup {
				res.calls++
				if !ok {
					res.throttle++
				}
			}
			push(simEvent{at: c.now().Add(latency), worker: e.worker, kind: 2, ok: ok})
		case 2:
			next := c.now()
			if e.ok {
				l.OnSuccess()
				done++
			} else {
				l.OnThrottle()
				// the SDK's first throttle retry: uniform in [0, 1s)
				next = next.Add(time.Duration(rng.Int64N(int64(time.Second))))
			}
			push(simEvent{at: next, worker: e.worker})
		}
	}
	res.elapsed = c.now().Sub(start)
	return res
}

func TestLimiter_Converges(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name       string
		o          Options
		serverRate float64
		burst      int
		drained    bool // the server's bucket starts empty: the first call is throttled
		calls      int
		workers    int
		latency    time.Duration
		jitter     time.Duration
		warmup     time.Duration // throttles before this do not count
		slowdown   float64       // at most this × calls/serverRate
		throttled  float64       // at most this share of calls after warm-up
	}{
		// The benchmark: the emulator's fault injector throttles at 20/s with
		// a bucket of 1, on loopback.
		{"benchmark shape: 1000 calls at 20/s", Options{}, 20, 1, false, 1000, 8, 2 * ms, 3 * ms, 5 * time.Second, 1.2, 0.01},
		{"starting far too fast", Options{Initial: 400}, 20, 1, false, 1000, 8, 2 * ms, 3 * ms, 5 * time.Second, 1.2, 0.01},
		// A throttle that was not ours (someone else emptied the bucket) costs
		// one climb back before the limiter probes past it.
		{"one spurious throttle at the start", Options{}, 20, 1, true, 1000, 8, 2 * ms, 3 * ms, 5 * time.Second, 1.5, 0.01},
		// At 2/s a climb of Climb (15s) is only 30 calls: more of them throttle.
		{"slow server", Options{}, 2, 1, false, 200, 8, 2 * ms, 3 * ms, 5 * time.Second, 1.2, 0.05},
		// Over a real network the jitter is tens of milliseconds; against a
		// bucket of 1 that alone caps any client at 1/(1/R + jitter). Real
		// services keep a burst, which hides an overshoot for a while.
		{"real-AWS latency", Options{}, 20, 10, false, 1000, 8, 80 * ms, 20 * ms, 5 * time.Second, 1.2, 0.01},
		{"fast server", Options{}, 100, 20, false, 5000, 16, 2 * ms, 3 * ms, 15 * time.Second, 1.2, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := simulate(tt.o, tt.serverRate, tt.burst, tt.drained, tt.calls, tt.workers, tt.latency, tt.jitter, tt.warmup)
			ideal := time.Duration(float64(tt.calls) / tt.serverRate * float64(time.Second))
			share := float64(res.throttle) / float64(res.calls)
			t.Logf("elapsed %v (ideal %v, %.2fx), %d of %d calls throttled after warm-up (%.2f%%)",
				res.elapsed.Round(time.Millisecond), ideal, float64(res.elapsed)/float64(ideal), res.throttle, res.calls, 100*share)
			if limit := time.Duration(tt.slowdown * float64(ideal)); res.elapsed > limit {
				t.Errorf("took %v, more than %v× the ideal %v", res.elapsed, tt.slowdown, ideal)
			}
			if share >= tt.throttled {
				t.Errorf("%.2f%% of calls throttled after warm-up, want < %.0f%%", 100*share, 100*tt.throttled)
			}
		})
	}
}

// TestLimiter_Unthrottled: against a server that never throttles, the
// limiter must not be what bounds a fleet for long: a thousand calls from 16
// workers at 20 ms each take 1.25 s when only latency bounds them.
func TestLimiter_Unthrottled(t *testing.T) {
	const ms = time.Millisecond
	res := simulate(Options{}, 1e6, 1e6, false, 1000, 16, 20*ms, 2*ms, 0)
	latencyBound := 1000 * 21 * ms / 16
	t.Logf("elapsed %v (latency bound %v)", res.elapsed.Round(time.Millisecond), latencyBound)
	if res.elapsed > 3*latencyBound {
		t.Errorf("took %v, more than 3× the latency bound %v: slow start is too slow", res.elapsed, latencyBound)
	}
}

// TestLimiter_Concurrent runs many callers on the real clock at a rate high
// enough to take no time: the race detector checks the locking.
func TestLimiter_Concurrent(t *testing.T) {
	l := New(Options{Initial: 100_000, Max: 100_000})
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 8 {
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				if (g+i)%5 == 0 {
					l.OnThrottle()
				} else {
					l.OnSuccess()
				}
				_ = l.Rate()
			}
		})
	}
	wg.Wait()
	if s := l.Stats(); s.Successes+s.Throttles != 32*8 {
		t.Errorf("stats = %+v, want %d calls", s, 32*8)
	}
}

// TestLimiter_DemandLimited: callers took slots far slower than the
// limiter's rate (another operation was the bottleneck). A throttle then cuts
// from the rate actually sent, not from the idle limit.
func TestLimiter_DemandLimited(t *testing.T) {
	l, c := newFake(Options{Initial: 400})
	for range 20 {
		c.advance(50 * time.Millisecond) // 20 calls a second
		if d := l.acquire(c.now()); d != 0 {
			t.Fatalf("slot not free at 20/s under a 400/s limit: wait %v", d)
		}
	}
	l.OnThrottle()
	l.OnThrottle()
	if r := l.Rate(); !near(r, 0.9*20) {
		t.Errorf("rate = %v, want 0.9 × the 20/s actually sent", r)
	}
}
