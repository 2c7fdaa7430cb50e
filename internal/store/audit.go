package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
)

const auditCols = `seq, time, credential, run_id, event, actor, detail, prev_hash, hash`

// AppendAudit seals r after the chain's head and stores both the record and
// the new head. The head row is locked first (FOR UPDATE on PostgreSQL; on
// SQLite the transaction already holds the write lock), so concurrent
// writers, in any process or replica, extend one chain in turn. Time
// defaults to now.
func (t *tx) AppendAudit(r audit.Record) (audit.Record, error) {
	var head audit.Head
	err := t.queryRow(`SELECT seq, hash FROM audit_head WHERE id = 1`+t.s.d.forUpdate).Scan(&head.Seq, &head.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return r, errors.New("append audit: the audit head row is missing (the store was altered); run `rotor audit verify`")
	}
	if err != nil {
		return r, fmt.Errorf("append audit: %w", err)
	}
	if r.Time.IsZero() {
		r.Time = t.s.now()
	}
	r = audit.Seal(r, head)
	if _, err := t.exec(`INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.Time.UnixMicro(), r.Credential, r.RunID, r.Event, r.Actor, r.Detail, r.PrevHash, r.Hash); err != nil {
		return r, fmt.Errorf("append audit %d: %w", r.Seq, err)
	}
	if _, err := t.exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, r.Seq, r.Hash); err != nil {
		return r, fmt.Errorf("append audit %d: move head: %w", r.Seq, err)
	}
	return r, nil
}

// Audit returns records after seq `after`, in order, at most limit (0: all),
// and the head. The head is read before the records: under concurrent
// appends the records may run past it, never stop short of it (records and
// head are written together), so a reader that stops at the head sees a
// consistent chain without a snapshot transaction.
func (s *Store) Audit(ctx context.Context, after int64, limit int) ([]audit.Record, audit.Head, error) {
	var head audit.Head
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) { // a missing head reads as empty: Verify reports it
		return nil, head, fmt.Errorf("audit head: %w", err)
	}
	q := `SELECT ` + auditCols + ` FROM audit WHERE seq > ? ORDER BY seq`
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(q), after)
	if err != nil {
		return nil, head, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var r audit.Record
		if err := rows.Scan(&r.Seq, scanTime(&r.Time), &r.Credential, &r.RunID, &r.Event, &r.Actor, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return nil, head, fmt.Errorf("audit: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, head, fmt.Errorf("audit: %w", err)
	}
	return out, head, nil
}

// LastAudit is credential's newest record of event; rotation.ErrNotFound
// when it has none. (No index serves it: it reads the chain back from its
// head, and status asks it only of credentials that can have such events.)
func (s *Store) LastAudit(ctx context.Context, credential, event string) (audit.Record, error) {
	var r audit.Record
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT `+auditCols+` FROM audit WHERE credential = ? AND event = ? ORDER BY seq DESC LIMIT 1`), credential, event).
		Scan(&r.Seq, scanTime(&r.Time), &r.Credential, &r.RunID, &r.Event, &r.Actor, &r.Detail, &r.PrevHash, &r.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%s's last %s: %w", credential, event, rotation.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("%s's last %s: %w", credential, event, err)
	}
	return r, nil
}

// auditPage is how many records VerifyAudit and Migrate read at once.
