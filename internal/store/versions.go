package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

const versionCols = `credential, seq, fingerprint, kind, sealed, state, by_rotor, identity,
	created_at, expires_at, retire_after, retired_at, note`

// AddVersion inserts v as its credential's next version (Seq is assigned;
// the one given is ignored) and returns it as stored. A missing credential
// record is created. CreatedAt defaults to now, State to pending.
func (t *tx) AddVersion(v rotation.Version) (rotation.Version, error) {
	if v.Fingerprint == "" {
		return v, fmt.Errorf("add version of %s: empty fingerprint", v.Credential)
	}
	if err := t.lockCredential(v.Credential); err != nil {
		return v, fmt.Errorf("add version of %s: %w", v.Credential, err)
	}
	if err := t.queryRow(`SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE credential = ?`, v.Credential).Scan(&v.Seq); err != nil {
		return v, fmt.Errorf("add version of %s: %w", v.Credential, err)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = t.s.now()
	}
	if v.State == "" {
		v.State = rotation.VersionPending
	}
	if err := t.insertVersion(v); err != nil {
		return v, fmt.Errorf("add version %d of %s: %w", v.Seq, v.Credential, err)
	}
	return normVersion(v), nil
}

// insertVersion writes v with the Seq it carries.
func (t *tx) insertVersion(v rotation.Version) error {
	_, err := t.exec(`INSERT INTO versions (`+versionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Credential, v.Seq, v.Fingerprint, string(v.Kind), blob(v.Sealed), string(v.State), v.ByRotor, v.Identity,
		micros(v.CreatedAt), micros(v.ExpiresAt), micros(v.RetireAfter), micros(v.RetiredAt), v.Note)
	return err
}

// UpdateVersion writes the mutable fields of the version (Credential, Seq).
// Fingerprint, Kind, Sealed, ByRotor and CreatedAt never change.
func (t *tx) UpdateVersion(v rotation.Version) error {
	res, err := t.exec(`UPDATE versions SET state = ?, identity = ?, expires_at = ?, retire_after = ?, retired_at = ?, note = ?
		WHERE credential = ? AND seq = ?`,
		string(v.State), v.Identity, micros(v.ExpiresAt), micros(v.RetireAfter), micros(v.RetiredAt), v.Note,
		v.Credential, v.Seq)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update version %d of %s: %w", v.Seq, v.Credential, err)
	}
	return nil
}

func (s *Store) Versions(ctx context.Context, credential string) ([]rotation.Version, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT `+versionCols+` FROM versions WHERE credential = ? ORDER BY seq DESC`), credential)
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", credential, err)
	}
	defer rows.Close()
	var out []rotation.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("versions of %s: %w", credential, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("versions of %s: %w", credential, err)
	}
	return out, nil
}

// VersionByFingerprint returns the newest version with that fingerprint.
func (s *Store) VersionByFingerprint(ctx context.Context, fingerprint string) (rotation.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+versionCols+` FROM versions
		WHERE fingerprint = ? ORDER BY created_at DESC, credential, seq DESC LIMIT 1`), fingerprint))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("version %s: %w", fingerprint, rotation.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("version %s: %w", fingerprint, err)
	}
	return v, nil
}

func scanVersion(r scanner) (rotation.Version, error) {
	var v rotation.Version
	var kind, state string
	err := r.Scan(&v.Credential, &v.Seq, &v.Fingerprint, &kind, &v.Sealed, &state, &v.ByRotor, &v.Identity,
		scanTime(&v.CreatedAt), scanTime(&v.ExpiresAt), scanTime(&v.RetireAfter), scanTime(&v.RetiredAt), &v.Note)
	v.Kind, v.State = token.Kind(kind), rotation.VersionState(state)
	if len(v.Sealed) == 0 {
		v.Sealed = nil
	}
	return v, err
}

// normVersion is v as it reads back.
func normVersion(v rotation.Version) rotation.Version {
	v.Sealed = nilIfEmpty(v.Sealed)
	v.CreatedAt, v.ExpiresAt = norm(v.CreatedAt), norm(v.ExpiresAt)
	v.RetireAfter, v.RetiredAt = norm(v.RetireAfter), norm(v.RetiredAt)
	return v
}

// blob is how bytes are stored: NULL when empty, so both databases read
// back the same nil.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
