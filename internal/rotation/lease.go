package rotation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rotor-ci/rotor/internal/lease"
)

// The run's lease (I5): a run holds its credential's lease in the store,
// renewed in the background, and every write of the engine goes through tx,
// which refuses once the lease may have lapsed. A process frozen past its
// lease (SIGSTOP, a VM pause) therefore writes nothing when it wakes:
// another replica may have taken the credential over.

func (e *Engine) holder() string {
	if e.Holder != "" {
		return e.Holder
	}
	return DefaultHolder()
}

// DefaultHolder names this process in leases and the audit log: host/pid.
func DefaultHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

func (e *Engine) leaseTTL() time.Duration {
	if e.LeaseTTL > 0 {
		return e.LeaseTTL
	}
	return 30 * time.Second
}

// withLease runs fn holding the credential's lease (lease.Hold renews it
// in the background). If the lease is lost, fn's context is cancelled and
// every write refuses, so that no two processes act on one credential
// (I5). The renewer has stopped when withLease returns.
func (e *Engine) withLease(ctx context.Context, name string, fn func(context.Context) error) error {
	ctx, held, err := lease.Hold(ctx, e.Store, e.holder(), []string{name}, lease.Options{
		TTL: e.leaseTTL(),
		// The guard reads the engine's clock: time.Now itself in
		// production, whose monotonic reading keeps counting while the
		// process is stopped.
		Now: e.Now,
		Lost: func(err error) {
			e.log().Error("lost lease: stopping run", "credential", name, "err", err)
		},
	})
	if err != nil {
		return err
	}
	// Deferred, so that a panic (the torture tests' simulated crash) stops
	// the renewer too; the lease itself is then left to expire, as after a
	// real crash.
	defer held.Abandon()
	err = fn(ctx)
	if lerr := lease.Check(ctx); lerr != nil {
		switch {
		case err == nil:
			err = lerr
		case errors.Is(err, context.Canceled):
			// A call cut short because the lease was lost: say so.
			err = context.Cause(ctx)
		}
	}
	// Release even if ctx was cancelled or the lease was lost: a release
	// deletes only this holder's row, never a lease another process took.
	if rerr := held.Release(); rerr != nil {
		e.log().Warn("release lease", "credential", name, "err", rerr)
	}
	return err
}

// ErrLeaseLost: the process held the lease too long without renewing it.
var ErrLeaseLost = lease.ErrLost

// tx is Store.Tx fenced by the run's lease: nothing is written once the
// lease may have lapsed.
func (e *Engine) tx(ctx context.Context, fn func(Tx) error) error { return FencedTx(ctx, e.Store, fn) }

// FencedTx is st.Tx fenced by ctx's lease (lease.Hold): it writes nothing
// once the lease may have lapsed, checked before and inside the
// transaction. Every writer of the store (the engine, rotor migrate) goes
// through it.
func FencedTx(ctx context.Context, st Store, fn func(Tx) error) error {
	if err := leaseOK(ctx); err != nil {
		return err
	}
	return st.Tx(ctx, func(tx Tx) error {
		if err := leaseOK(ctx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// leaseOK reports whether ctx's lease still holds (nil outside withLease).
func leaseOK(ctx context.Context) error { return lease.Check(ctx) }
