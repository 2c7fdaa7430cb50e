package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/grant"
)

// ResealTx is the write only `rotor migrate-key` makes: it replaces sealed
// bytes with the same token sealed by another key (the engine never
// changes a sealed value, so rotation.Tx does not offer it). The Tx that
// Store.Tx passes to fn offers it: assert rotation.Tx to ResealTx. Each
// method replaces the bytes only if they are still from, and fails with
// ErrSealChanged when they are not (another process changed or removed
// them meanwhile), so the whole transaction changes nothing.
type ResealTx interface {
	// ResealVersion: version seq of credential.
	ResealVersion(credential string, seq int64, from, to []byte) error
	// ResealGrant: the refresh token of credential's App user grant.
	ResealGrant(credential string, from, to []byte) error
	// ResealStash: the stashed user token of credential's grant.
	ResealStash(credential string, from, to []byte) error
	// ResealRevocation: the queued revocation with this id.
	ResealRevocation(id int64, from, to []byte) error
}

// ErrSealChanged: the sealed bytes are not what the caller read.
var ErrSealChanged = errors.New("the sealed bytes changed since they were read")

var _ ResealTx = (*tx)(nil)

func (t *tx) ResealVersion(credential string, seq int64, from, to []byte) error {
	return t.reseal(fmt.Sprintf("version %d of %s", seq, credential), from, to,
		`UPDATE versions SET sealed = ? WHERE credential = ? AND seq = ? AND sealed = ?`, credential, seq)
}

func (t *tx) ResealGrant(credential string, from, to []byte) error {
	return t.reseal("the refresh token of "+credential+"'s grant", from, to,
		`UPDATE user_grants SET sealed = ? WHERE credential = ? AND sealed = ?`, credential)
}

func (t *tx) ResealStash(credential string, from, to []byte) error {
	return t.reseal("the stashed user token of "+credential+"'s grant", from, to,
		`UPDATE user_grants SET stash = ? WHERE credential = ? AND stash = ?`, credential)
}

func (t *tx) ResealRevocation(id int64, from, to []byte) error {
	return t.reseal(fmt.Sprintf("queued revocation %d", id), from, to,
		`UPDATE revocations SET sealed = ? WHERE id = ? AND sealed = ?`, id)
}

// reseal runs query with (to, keys..., from): one row must change.
func (t *tx) reseal(what string, from, to []byte, query string, keys ...any) error {
	if len(from) == 0 || len(to) == 0 {
		return fmt.Errorf("reseal %s: empty sealed bytes", what)
	}
	args := append(append([]any{to}, keys...), from)
	res, err := t.exec(query, args...)
	if err != nil {
		return fmt.Errorf("reseal %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("reseal %s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("reseal %s: %w", what, ErrSealChanged)
	}
	return nil
}

// ListGrants returns every credential's App user grant, by credential
// (rotor migrate-key reseals them).
func (s *Store) ListGrants(ctx context.Context) ([]grant.Grant, error) {
	creds, err := s.grantCredentials(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]grant.Grant, 0, len(creds))
	for _, c := range creds {
		g, err := s.Grant(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}
