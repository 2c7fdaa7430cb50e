package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/revoke"
)

var _ revoke.Store = (*Store)(nil)

const revocationCols = `id, credential, fingerprint, sealed, state, enqueued_at, sent_at, confirmed_at, error`

func (s *Store) EnqueueRevocation(ctx context.Context, it revoke.Item) error {
	if it.Fingerprint == "" || len(it.Sealed) == 0 {
		return fmt.Errorf("enqueue revocation for %s: fingerprint and sealed token are required", it.Credential)
	}
	if it.EnqueuedAt.IsZero() {
		it.EnqueuedAt = s.now()
	}
	return s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO revocations (credential, fingerprint, sealed, state, enqueued_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (fingerprint) DO NOTHING`, it.Credential, it.Fingerprint, it.Sealed, string(revoke.ItemQueued), micros(it.EnqueuedAt))
		if err != nil {
			return fmt.Errorf("enqueue revocation of %s: %w", it.Fingerprint, err)
		}
		return nil
	})
}

func (s *Store) Revocations(ctx context.Context, limit int, states ...revoke.ItemState) ([]revoke.Item, error) {
	q := `SELECT ` + revocationCols + ` FROM revocations`
	var args []any
	if len(states) > 0 {
		q += ` WHERE state IN (?` + strings.Repeat(", ?", len(states)-1) + `)`
		for _, st := range states {
			args = append(args, string(st))
		}
	}
	q += ` ORDER BY id`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("revocations: %w", err)
	}
	defer rows.Close()
	var out []revoke.Item
	for rows.Next() {
		var it revoke.Item
		var state string
		if err := rows.Scan(&it.ID, &it.Credential, &it.Fingerprint, &it.Sealed, &state, scanTime(&it.EnqueuedAt),
			scanTime(&it.SentAt), scanTime(&it.ConfirmedAt), &it.Error); err != nil {
			return nil, fmt.Errorf("revocations: %w", err)
		}
		it.State, it.Sealed = revoke.ItemState(state), nilIfEmpty(it.Sealed)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revocations: %w", err)
	}
	return out, nil
}

// revocationFrom lists the states an item may move to each state from:
// forwards only. Two processes may flush the same item at once (two
// replicas, two CLI runs): one finds the token already dead and confirms
// it (dropping the sealed value) while the other, whose revocation call
// killed it, comes back to mark it sent. A step back would leave an item
// "sent" with no value to confirm it by, and every later flush stuck on it.
var revocationFrom = map[revoke.ItemState][]revoke.ItemState{
	revoke.ItemQueued:    {revoke.ItemQueued},
	revoke.ItemSent:      {revoke.ItemQueued, revoke.ItemSent},
	revoke.ItemAlive:     {revoke.ItemQueued, revoke.ItemSent, revoke.ItemAlive},
	revoke.ItemConfirmed: {revoke.ItemQueued, revoke.ItemSent, revoke.ItemAlive, revoke.ItemConfirmed},
}

// UpdateRevocation moves an item forwards (see revocationFrom); an item
// that another process has already moved past it.State is left as it is.
func (s *Store) UpdateRevocation(ctx context.Context, it revoke.Item) error {
	from, ok := revocationFrom[it.State]
	if !ok {
		return fmt.Errorf("update revocation %d: unknown state %q", it.ID, it.State)
	}
	return s.tx(ctx, func(t *tx) error {
		q := `UPDATE revocations SET state = ?, sent_at = ?, confirmed_at = ?, error = ?`
		if it.State == revoke.ItemConfirmed {
			q += `, sealed = NULL`
		}
		args := []any{string(it.State), micros(it.SentAt), micros(it.ConfirmedAt), it.Error, it.ID}
		q += ` WHERE id = ? AND state IN (?` + strings.Repeat(", ?", len(from)-1) + `)`
		for _, st := range from {
			args = append(args, string(st))
		}
		res, err := t.exec(q, args...)
		if err != nil {
			return fmt.Errorf("update revocation %d: %w", it.ID, err)
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			return nil
		}
		var state string
		if err := t.queryRow(`SELECT state FROM revocations WHERE id = ?`, it.ID).Scan(&state); err != nil {
			return fmt.Errorf("update revocation %d: %w", it.ID, err)
		}
		return nil // moved on by another process
	})
}

// revokeBudgetLock serialises TakeRevokeCall across PostgreSQL sessions
// (SQLite's write transaction already does).
const revokeBudgetLock = "SELECT pg_advisory_xact_lock(7270170002)"

func (s *Store) TakeRevokeCall(ctx context.Context, now time.Time, limit int) (bool, time.Time, error) {
	var ok bool
	var next time.Time
	err := s.tx(ctx, func(t *tx) error {
		ok, next = false, time.Time{}
		if s.d.dollar {
			if _, err := t.exec(revokeBudgetLock); err != nil {
				return err
			}
		}
		from := now.Add(-time.Hour)
		if _, err := t.exec(`DELETE FROM revoke_calls WHERE at <= ?`, from.UnixMicro()); err != nil {
			return err
		}
		var n int
		var oldest *int64
		if err := t.queryRow(`SELECT COUNT(*), MIN(at) FROM revoke_calls`).Scan(&n, &oldest); err != nil {
			return err
		}
		if n >= limit {
			if oldest != nil {
				next = time.UnixMicro(*oldest).UTC().Add(time.Hour)
			}
			return nil
		}
		ok = true
		_, err := t.exec(`INSERT INTO revoke_calls (at) VALUES (?)`, now.UnixMicro())
		return err
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("revocation budget: %w", err)
	}
	return ok, next, nil
}
