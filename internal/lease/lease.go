// Package lease holds rotor's leases and carries them in a context. Hold
// takes leases in the store and renews them in the background (the engine
// holds one credential's for a run, migrate-key every credential's); the
// context it returns carries the guard, so that every layer that acts on
// the world (the store, the AWS and GitHub clients) can refuse to act once
// the lease may have lapsed: they only ask Check. It is its own package so
// that the clients do not depend on the engine.
package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLost: the process held the lease too long without renewing it (a
// pause, a stall), so another process may have taken the run over.
var ErrLost = errors.New("lease lost: this process was stalled past its lease, another may have taken the run over")

type key struct{}

// Guard is the local, monotonic-clock view of one lease. A lease is ours
// until at most ttl after the moment we asked for it (the database sets its
// expiry after that moment); past that, a late renewal does not count.
type Guard struct {
	mu     sync.Mutex
	now    func() time.Time
	until  time.Time // carries a monotonic reading in production
	lost   bool
	cancel context.CancelCauseFunc
}

// New returns ctx carrying a guard for a lease asked for at asked, valid
// for ttl, and a context that is cancelled when the lease is lost. now is
// the clock (time.Now in production, whose monotonic reading keeps counting
// while the process is stopped).
func New(ctx context.Context, now func() time.Time, asked time.Time, ttl time.Duration) (context.Context, *Guard, context.CancelCauseFunc) {
	g := &Guard{now: now, until: asked.Add(ttl)}
	ctx, cancel := context.WithCancelCause(context.WithValue(ctx, key{}, g))
	g.cancel = cancel
	return ctx, g, cancel
}

// Check fails once the lease may have lapsed, and cancels the run's context.
func (g *Guard) Check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.lost && !g.now().Before(g.until) {
		g.lost = true
		g.cancel(ErrLost)
	}
	if g.lost {
		return ErrLost
	}
	return nil
}

// Lose marks the lease lost for cause (a renewal the store refused).
func (g *Guard) Lose(cause error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lost = true
	g.cancel(cause)
}

// Extend moves the deadline after a renewal asked for at asked; a renewal
// that came back after the old deadline does not count.
func (g *Guard) Extend(asked time.Time, ttl time.Duration) error {
	if err := g.Check(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.until = asked.Add(ttl)
	return nil
}

// Check reports whether ctx's lease still holds; nil when ctx carries none
// (work outside a run, such as rotor plan).
func Check(ctx context.Context) error {
	if g, ok := ctx.Value(key{}).(*Guard); ok {
		return g.Check()
	}
	return nil
}

// Store is where leases live: rotor's store.
type Store interface {
	// AcquireLease takes or renews name's lease for holder until now+ttl;
	// it fails while another holder's lease is unexpired.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) error
	// ReleaseLease ends holder's lease of name; releasing a lease one does
	// not hold is not an error.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Options tune Hold.
type Options struct {
	TTL time.Duration // how long a lease lasts without renewal
	// Now is the clock (nil: time.Now). Its monotonic reading keeps
	// counting while the process is stopped, which is what the guard needs.
	Now func() time.Time
	// Lost, if set, is told (from the renewer) why renewing stopped once
	// the leases are lost; Release and Abandon wait for it to return.
	Lost func(err error)
}

// TakeError is Hold's failure to take one of the leases.
type TakeError struct {
	Name string
	Err  error // the store's: another holder's lease is unexpired, or a failure
}

func (e *TakeError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *TakeError) Unwrap() error { return e.Err }

// Held is a set of leases Hold took, renewed in the background until
// Release or Abandon.
type Held struct {
	st     Store
	holder string
	names  []string
	cancel context.CancelCauseFunc
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// Hold takes the lease of every name for holder and renews them every
// TTL/3 until Release or Abandon. The returned context carries the Guard
// (Check) and is cancelled once the leases may have lapsed: a process
// frozen past them (SIGSTOP, a VM pause) then acts on nothing, because
// another may have taken over. If a lease is held by another, Hold
// releases the ones it took and fails with a *TakeError.
func Hold(ctx context.Context, st Store, holder string, names []string, o Options) (context.Context, *Held, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	// A lease is ours until at most TTL after the moment we asked for it
	// (the database sets its expiry after that moment).
	asked := now()
	for i, n := range names {
		if err := st.AcquireLease(ctx, n, holder, o.TTL); err != nil {
			_ = release(ctx, st, holder, names[:i])
			return ctx, nil, &TakeError{Name: n, Err: err}
		}
	}
	lctx, g, cancel := New(ctx, now, asked, o.TTL)
	h := &Held{st: st, holder: holder, names: names, cancel: cancel, done: make(chan struct{})}
	lost := func(err error) {
		if o.Lost != nil {
			o.Lost(err)
		}
	}
	h.wg.Go(func() {
		t := time.NewTicker(o.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				// A renewal that comes back after the old deadline does not
				// count (Extend): another process may have taken the lease,
				// and even released it again, in between.
				if err := g.Check(); err != nil {
					lost(err)
					return
				}
				asked := now()
				for _, n := range names {
					if err := st.AcquireLease(lctx, n, holder, o.TTL); err != nil {
						err = fmt.Errorf("lease of %s lost: %w", n, err)
						g.Lose(err)
						lost(err)
						return
					}
				}
				if err := g.Extend(asked, o.TTL); err != nil {
					lost(err)
					return
				}
			}
		}
	})
	return lctx, h, nil
}

// stop ends the renewal and waits for the renewer, so that nothing it does
// (a renewal, a log line) outlives the caller's use of the leases.
func (h *Held) stop() {
	h.once.Do(func() {
		close(h.done)
		h.wg.Wait()
		h.cancel(nil)
	})
}

// Release stops renewing and releases every lease, even after the context
// was cancelled or the leases were lost: a release deletes only this
// holder's rows, never a lease another process took.
func (h *Held) Release() error {
	h.stop()
	return release(context.Background(), h.st, h.holder, h.names)
}

// Abandon stops renewing and leaves the leases to expire, as after a
// crash (a deferred Abandon covers a panic). After Release it does
// nothing more.
func (h *Held) Abandon() { h.stop() }

// release gives back holder's leases of names, within a bounded time.
func release(ctx context.Context, st Store, holder string, names []string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var errs []error
	for _, n := range names {
		if err := st.ReleaseLease(rctx, n, holder); err != nil {
			errs = append(errs, fmt.Errorf("release the lease of %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
