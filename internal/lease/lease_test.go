package lease

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	ctx, g, cancel := New(context.Background(), clock, now, 30*time.Second)
	defer cancel(nil)
	if err := Check(ctx); err != nil {
		t.Fatalf("fresh lease: %v", err)
	}
	// A renewal asked for in time moves the deadline.
	now = now.Add(20 * time.Second)
	if err := g.Extend(now, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	now = now.Add(29 * time.Second)
	if err := Check(ctx); err != nil {
		t.Fatalf("within the renewed lease: %v", err)
	}
	// Stalled past the deadline: lost for good, context cancelled, and a
	// late renewal does not bring it back.
	now = now.Add(2 * time.Second)
	if err := Check(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("past the deadline: %v", err)
	}
	if !errors.Is(context.Cause(ctx), ErrLost) {
		t.Fatalf("context not cancelled with ErrLost: %v", context.Cause(ctx))
	}
	if err := g.Extend(now, 30*time.Second); !errors.Is(err, ErrLost) {
		t.Fatalf("late renewal accepted: %v", err)
	}
	if err := Check(context.Background()); err != nil {
		t.Fatalf("a context without a lease: %v", err)
	}
}
