package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// AcquireLease takes, renews or takes over the credential's lease in one
// statement: the insert succeeds when nobody holds the lease, and the
// conflict branch updates the row only when holder already holds it or it
// has expired. The database decides between concurrent takers (row lock on
// the primary key); no read-then-write window exists.
//
// Expiry is judged by Options.Clock when set, else by the database's clock
// (see Options).
func (s *Store) AcquireLease(ctx context.Context, credential, holder string, ttl time.Duration) error {
	switch {
	case credential == "" || holder == "":
		return errors.New("acquire lease: empty credential or holder")
	case ttl <= 0:
		return fmt.Errorf("acquire lease on %s: ttl %s must be positive", credential, ttl)
	}
	var expires, now string
	args := []any{credential, holder}
	if s.clock != nil {
		t := s.clock().UnixMicro()
		expires, now = "?", "?"
		args = append(args, t+ttl.Microseconds(), t)
	} else {
		expires, now = s.d.nowMicros+" + ?", s.d.nowMicros
		args = append(args, ttl.Microseconds())
	}
	q := s.d.q(`INSERT INTO leases (credential, holder, expires_at) VALUES (?, ?, ` + expires + `)
		ON CONFLICT (credential) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ` + now)
	var n int64
	err := s.retry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("acquire lease on %s: %w", credential, err)
	}
	if n == 0 {
		return s.leaseHeld(ctx, credential)
	}
	return nil
}

// leaseHeld says who holds the lease, best effort: the holder may have
// released it since.
func (s *Store) leaseHeld(ctx context.Context, credential string) error {
	var other string
	var until time.Time
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT holder, expires_at FROM leases WHERE credential = ?`), credential).
		Scan(&other, scanTime(&until))
	if err != nil {
		return fmt.Errorf("lease on %s: %w", credential, rotation.ErrLeaseHeld)
	}
	return fmt.Errorf("lease on %s held by %s until %s: %w", credential, other, until.Format(time.RFC3339), rotation.ErrLeaseHeld)
}

// ReleaseLease deletes holder's lease; another holder's lease is left alone.
func (s *Store) ReleaseLease(ctx context.Context, credential, holder string) error {
	q := s.d.q(`DELETE FROM leases WHERE credential = ? AND holder = ?`)
	err := s.retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, q, credential, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease on %s: %w", credential, err)
	}
	return nil
}
