package lease

import (
	"context"
	"errors"
	"maps"
	"sync"
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

// memStore is a lease table in memory. refuse makes renewals fail; block,
// if set, holds every renewal until it is closed.
type memStore struct {
	mu      sync.Mutex
	holders map[string]string
	renewed map[string]int
	refuse  bool
	block   chan struct{}
	entered chan struct{}
}

func newMemStore() *memStore {
	return &memStore{holders: map[string]string{}, renewed: map[string]int{}}
}

func (m *memStore) AcquireLease(_ context.Context, name, holder string, _ time.Duration) error {
	m.mu.Lock()
	block, entered := m.block, m.entered
	h, held := m.holders[name]
	renewal := held && h == holder
	m.mu.Unlock()
	if renewal && block != nil {
		entered <- struct{}{}
		<-block
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case held && h != holder:
		return errors.New("held by " + h)
	case renewal && m.refuse:
		return errors.New("refused")
	}
	m.holders[name] = holder
	if renewal {
		m.renewed[name]++
	}
	return nil
}

func (m *memStore) ReleaseLease(_ context.Context, name, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holders[name] == holder {
		delete(m.holders, name)
	}
	return nil
}

func (m *memStore) state() (map[string]string, map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.holders), maps.Clone(m.renewed)
}

func TestHold(t *testing.T) {
	t.Run("renews and releases", func(t *testing.T) {
		st := newMemStore()
		ctx, held, err := Hold(context.Background(), st, "me", []string{"a", "b"}, Options{TTL: 30 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
		if err := Check(ctx); err != nil {
			t.Fatalf("a renewed lease: %v", err)
		}
		if err := held.Release(); err != nil {
			t.Fatal(err)
		}
		holders, renewed := st.state()
		if len(holders) != 0 || renewed["a"] == 0 || renewed["b"] == 0 {
			t.Fatalf("after Release: holders %v, renewals %v; want none held, both renewed", holders, renewed)
		}
		if ctx.Err() == nil {
			t.Error("the lease's context is not cancelled after Release")
		}
	})

	t.Run("held by another", func(t *testing.T) {
		st := newMemStore()
		st.holders["b"] = "other"
		_, _, err := Hold(context.Background(), st, "me", []string{"a", "b"}, Options{TTL: time.Minute})
		var te *TakeError
		if !errors.As(err, &te) || te.Name != "b" || err.Error() != "b: held by other" {
			t.Fatalf("Hold = %v, want a TakeError naming b", err)
		}
		if holders, _ := st.state(); holders["a"] != "" {
			t.Errorf("a still held after Hold failed: %v", holders)
		}
	})

	t.Run("renewal refused", func(t *testing.T) {
		st := newMemStore()
		st.refuse = true
		lost := make(chan error, 1)
		ctx, held, err := Hold(context.Background(), st, "me", []string{"a"}, Options{TTL: 30 * time.Millisecond, Lost: func(err error) { lost <- err }})
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release()
		if err := <-lost; err == nil || err.Error() != "lease of a lost: refused" {
			t.Fatalf("Lost told %v", err)
		}
		if err := Check(ctx); !errors.Is(err, ErrLost) {
			t.Errorf("Check after a refused renewal = %v, want ErrLost", err)
		}
		if ctx.Err() == nil {
			t.Error("context not cancelled after the lease was lost")
		}
	})

	// Nothing the renewer does outlives Release: it waits for a renewal in
	// flight (and for Lost) before it returns.
	t.Run("release waits for the renewer", func(t *testing.T) {
		st := newMemStore()
		st.block, st.entered = make(chan struct{}), make(chan struct{})
		_, held, err := Hold(context.Background(), st, "me", []string{"a"}, Options{TTL: 30 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		<-st.entered // a renewal is in flight
		released := make(chan struct{})
		go func() {
			_ = held.Release()
			close(released)
		}()
		select {
		case <-released:
			t.Fatal("Release returned while a renewal was in flight")
		case <-time.After(50 * time.Millisecond):
		}
		close(st.block)
		<-released
		if holders, _ := st.state(); len(holders) != 0 {
			t.Errorf("held after Release: %v", holders)
		}
	})
}
