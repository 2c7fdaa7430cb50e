// Package lease carries a run's lease in its context, so that every layer
// that acts on the world (the store, the AWS and GitHub clients) can refuse
// to act once the lease may have lapsed. The engine creates the guard; the
// clients only ask Check. It is its own package so that the clients do not
// depend on the engine.
package lease

import (
	"context"
	"errors"
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
