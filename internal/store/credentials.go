package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// PutCredential creates the record, or updates its application; the
// creation time of an existing record is kept.
func (t *tx) PutCredential(c rotation.CredentialRecord) error {
	if c.Name == "" {
		return errors.New("put credential: empty name")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = t.s.now()
	}
	_, err := t.exec(`INSERT INTO credentials (name, application, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET application = excluded.application`,
		c.Name, c.Application, micros(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("put credential %s: %w", c.Name, err)
	}
	return nil
}

// lockCredential makes sure the credential has a record (versions and runs
// refer to it) and locks that record until the transaction ends, so that
// concurrent writers of one credential's versions take turns.
func (t *tx) lockCredential(name string) error {
	if name == "" {
		return errors.New("empty credential name")
	}
	if _, err := t.exec(`INSERT INTO credentials (name, application, created_at) VALUES (?, '', ?)
		ON CONFLICT (name) DO NOTHING`, name, micros(t.s.now())); err != nil {
		return err
	}
	var got string
	return t.queryRow(`SELECT name FROM credentials WHERE name = ?`+t.s.d.forUpdate, name).Scan(&got)
}

func (s *Store) Credential(ctx context.Context, name string) (rotation.CredentialRecord, error) {
	c, err := scanCredential(s.db.QueryRowContext(ctx, s.d.q(`SELECT name, application, created_at FROM credentials WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("credential %s: %w", name, rotation.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("credential %s: %w", name, err)
	}
	return c, nil
}

func (s *Store) Credentials(ctx context.Context) ([]rotation.CredentialRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, application, created_at FROM credentials ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	defer rows.Close()
	var out []rotation.CredentialRecord
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanCredential(r scanner) (rotation.CredentialRecord, error) {
	var c rotation.CredentialRecord
	err := r.Scan(&c.Name, &c.Application, scanTime(&c.CreatedAt))
	return c, err
}
