package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
)

func TestStore_AcquireLease_clock(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		clock := &fakeClock{now: t0}
		s := openOpts(t, dsn, store.Options{Clock: clock.Now})
		ctx := context.Background()
		steps := []struct {
			at      time.Duration
			holder  string
			ttl     time.Duration
			wantErr error
		}{
			{0, "A", time.Minute, nil},
			{59 * time.Second, "B", time.Minute, rotation.ErrLeaseHeld},
			{30 * time.Second, "A", time.Minute, nil}, // renew: now until 1m30s
			{60 * time.Second, "B", time.Minute, rotation.ErrLeaseHeld},
			{90*time.Second - time.Microsecond, "B", time.Minute, rotation.ErrLeaseHeld},
			{90 * time.Second, "B", time.Minute, nil}, // expired: taken over
			{100 * time.Second, "A", time.Minute, rotation.ErrLeaseHeld},
		}
		for _, st := range steps {
			clock.Set(t0.Add(st.at))
			err := s.AcquireLease(ctx, "c", st.holder, st.ttl)
			if st.wantErr == nil && err != nil || st.wantErr != nil && !errors.Is(err, st.wantErr) {
				t.Fatalf("at %s %s acquires: %v, want %v", st.at, st.holder, err, st.wantErr)
			}
		}
	})
}
