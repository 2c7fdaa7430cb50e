package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// maxAttempts bounds how often a transaction is tried when the database
// reports contention (SQLite busy, PostgreSQL serialization failure or
// deadlock).
const maxAttempts = 8

// Tx runs fn in one transaction and commits if fn returns nil. On SQLite
// the transaction holds the database's write lock from its start; on
// PostgreSQL it is READ COMMITTED with explicit row locks where order
// matters (the audit head, a credential's next version). fn may run again
// when the database asks for a retry; it must not call other Store methods.
func (s *Store) Tx(ctx context.Context, fn func(rotation.Tx) error) error {
	return s.tx(ctx, func(t *tx) error { return fn(t) })
}

func (s *Store) tx(ctx context.Context, fn func(*tx) error) error {
	return s.retry(ctx, func() error {
		sqltx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		if err := fn(&tx{s: s, ctx: ctx, tx: sqltx}); err != nil {
			sqltx.Rollback()
			return err
		}
		if err := sqltx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// retry runs op until it succeeds, fails for a reason a retry cannot fix,
// or has been tried maxAttempts times.
func (s *Store) retry(ctx context.Context, op func() error) error {
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || attempt == maxAttempts || !s.d.retryable(err) {
			return err
		}
		wait := backoff/2 + rand.N(backoff)
		backoff = min(2*backoff, 500*time.Millisecond)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// tx is rotation.Tx over one *sql.Tx.
type tx struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx
}

var _ rotation.Tx = (*tx)(nil)

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.s.d.q(query), args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.s.d.q(query), args...)
}

// affected turns "no row matched" into rotation.ErrNotFound.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return rotation.ErrNotFound
	}
	return nil
}
