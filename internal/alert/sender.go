package alert

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Options tune a Sender. The zero value is what production uses.
type Options struct {
	// Attempts bounds deliveries of one alert to one destination (default 5).
	Attempts int
	// Backoff is the first wait between attempts, doubling up to MaxBackoff
	// (defaults 1 s and 30 s).
	Backoff, MaxBackoff time.Duration
	// Window drops a repeat of one (credential, event) sent less than this
	// long ago (default 1 h). A negative Window sends every alert.
	Window time.Duration
	// QueueSize bounds alerts waiting for delivery (default 256); when it is
	// full, new alerts are dropped and logged, never blocking the caller.
	QueueSize int
	// Now is the clock for de-duplication; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Delivered, if set, is told the outcome of each alert at each
	// destination after its last attempt (for metrics).
	Delivered func(dest string, a Alert, err error)
}

// Sender queues alerts and delivers them to every destination from its own
// goroutine (Run). Safe for concurrent use.
type Sender struct {
	dests []Notifier
	opts  Options
	queue chan Alert

	mu   sync.Mutex
	last map[[2]string]time.Time // (credential, event) → when queued
}

// NewSender returns a Sender for dests; call Run to deliver. With no
// destinations, alerts are only logged.
func NewSender(dests []Notifier, opts Options) *Sender {
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Window == 0 {
		opts.Window = time.Hour
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Sender{dests: dests, opts: opts, queue: make(chan Alert, opts.QueueSize), last: map[[2]string]time.Time{}}
}

// Send queues a for delivery and returns at once. It reports whether the
// alert was queued: false when it repeats one sent within the window, or
// when the queue is full.
func (s *Sender) Send(a Alert) bool {
	now := s.opts.Now()
	if a.Time.IsZero() {
		a.Time = now.UTC()
	}
	// Alerts are built from fingerprints; this is the last guard.
	a.Message = token.RedactText(a.Message)
	window := s.opts.Window
	if a.Repeat != 0 {
		window = a.Repeat
	}
	key := [2]string{a.Credential, a.Event}
	s.mu.Lock()
	if at, ok := s.last[key]; ok && window > 0 && now.Sub(at) < window {
		s.mu.Unlock()
		return false
	}
	s.last[key] = now
	s.mu.Unlock()

	attrs := []any{"event", a.Event, "credential", a.Credential, "severity", a.Severity}
	if a.RunID != 0 {
		attrs = append(attrs, "run", a.RunID)
	}
	s.opts.Log.Warn("alert", append(attrs, "message", a.Message)...)
	if len(s.dests) == 0 {
		return true
	}
	select {
	case s.queue <- a:
		return true
	default:
		s.opts.Log.Error("alert queue full: alert dropped", "event", a.Event, "credential", a.Credential)
		return false
	}
}

// Forget clears the de-duplication memory of (credential, event), so that
// the next alert is sent at once: a condition that cleared and came back is
// news.
func (s *Sender) Forget(credential, event string) {
	s.mu.Lock()
	delete(s.last, [2]string{credential, event})
	s.mu.Unlock()
}

// Run delivers queued alerts until ctx ends, then delivers what is still
// queued for at most drain more, so that the alert about the run a
// shutdown interrupted is not lost. Deliveries in progress when ctx ends
// finish within the same bound.
func (s *Sender) Run(ctx context.Context, drain time.Duration) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drain, cancel) })
	defer stop()
	for {
		select {
		case a := <-s.queue:
			s.deliver(dctx, a)
		case <-ctx.Done():
			for {
				select {
				case a := <-s.queue:
					s.deliver(dctx, a)
				default:
					return
				}
			}
		}
	}
}

// deliver sends a to every destination, concurrently, each with retries.
func (s *Sender) deliver(ctx context.Context, a Alert) {
	var wg sync.WaitGroup
	for _, d := range s.dests {
		wg.Go(func() {
			err := s.retry(ctx, d, a)
			if err != nil {
				s.opts.Log.Error("alert not delivered", "dest", d.Name(), "event", a.Event, "credential", a.Credential, "err", err)
			}
			if s.opts.Delivered != nil {
				s.opts.Delivered(d.Name(), a, err)
			}
		})
	}
	wg.Wait()
}

func (s *Sender) retry(ctx context.Context, d Notifier, a Alert) error {
	wait := s.opts.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		if err = d.Notify(ctx, a); err == nil {
			return nil
		}
		var de *DeliveryError
		if errors.As(err, &de) && !de.Temporary {
			return err
		}
		if attempt >= s.opts.Attempts {
			return err
		}
		s.opts.Log.Debug("alert delivery failed; retrying", "dest", d.Name(), "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, s.opts.MaxBackoff)
	}
}
