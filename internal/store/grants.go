package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// The GitHub App user source keeps its refresh token here (see
// grant.Grants): each call is a transaction of its own, because the
// refresh answer must be recorded the moment it arrives, whatever else the
// run is doing.

var _ grant.Grants = (*Store)(nil)

const grantCols = `credential, fingerprint, sealed, expires_at, pair_fingerprint, stash, stash_expires_at, state, note, updated_at`

func (s *Store) Grant(ctx context.Context, credential string) (grant.Grant, error) {
	var g grant.Grant
	var state string
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT `+grantCols+` FROM user_grants WHERE credential = ?`), credential).Scan(
		&g.Credential, &g.Fingerprint, &g.Sealed, scanTime(&g.ExpiresAt), &g.PairFingerprint, &g.Stash, scanTime(&g.StashExpiresAt),
		&state, &g.Note, scanTime(&g.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("grant of %s: %w", credential, rotation.ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("grant of %s: %w", credential, err)
	}
	g.State, g.Stash = grant.GrantState(state), nilIfEmpty(g.Stash)
	return g, nil
}

func (s *Store) ReplaceGrant(ctx context.Context, g grant.Grant, ifFingerprint string) error {
	if g.Credential == "" || g.Fingerprint == "" || len(g.Sealed) == 0 {
		return fmt.Errorf("replace grant of %s: credential, fingerprint and sealed token are required", g.Credential)
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = s.now()
	}
	return s.tx(ctx, func(t *tx) error {
		if ifFingerprint != "" {
			var have string
			err := t.queryRow(`SELECT fingerprint FROM user_grants WHERE credential = ?`+s.d.forUpdate, g.Credential).Scan(&have)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("replace grant of %s: %w", g.Credential, err)
			}
			if have != ifFingerprint {
				return fmt.Errorf("replace grant of %s: %w", g.Credential, grant.ErrGrantChanged)
			}
		}
		_, err := t.exec(`INSERT INTO user_grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (credential) DO UPDATE SET fingerprint = excluded.fingerprint, sealed = excluded.sealed,
			expires_at = excluded.expires_at, pair_fingerprint = excluded.pair_fingerprint, stash = excluded.stash,
			stash_expires_at = excluded.stash_expires_at, state = excluded.state, note = excluded.note, updated_at = excluded.updated_at`,
			g.Credential, g.Fingerprint, g.Sealed, micros(g.ExpiresAt), g.PairFingerprint, blob(g.Stash), micros(g.StashExpiresAt),
			string(g.State), g.Note, micros(g.UpdatedAt))
		if err != nil {
			return fmt.Errorf("replace grant of %s: %w", g.Credential, err)
		}
		return nil
	})
}

func (s *Store) SetGrantState(ctx context.Context, credential, fingerprint string, state grant.GrantState, note string) error {
	return s.tx(ctx, func(t *tx) error {
		res, err := t.exec(`UPDATE user_grants SET state = ?, note = ?, updated_at = ? WHERE credential = ? AND fingerprint = ?`,
			string(state), note, micros(s.now()), credential, fingerprint)
		if err == nil {
			err = affected(res)
		}
		if errors.Is(err, rotation.ErrNotFound) {
			err = grant.ErrGrantChanged
		}
		if err != nil {
			return fmt.Errorf("grant of %s: %w", credential, err)
		}
		return nil
	})
}

func (s *Store) TakeStash(ctx context.Context, credential, pairFingerprint string) ([]byte, error) {
	var out []byte
	err := s.tx(ctx, func(t *tx) error {
		out = nil
		err := t.queryRow(`SELECT stash FROM user_grants WHERE credential = ? AND pair_fingerprint = ?`+s.d.forUpdate, credential, pairFingerprint).Scan(&out)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = t.exec(`UPDATE user_grants SET stash = NULL, stash_expires_at = NULL, updated_at = ? WHERE credential = ?`, micros(s.now()), credential)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("take stashed token of %s: %w", credential, err)
	}
	return nilIfEmpty(out), nil
}
