package store

import (
	"errors"
	"fmt"
)

// ResealTx is the one write that replaces a version's sealed bytes, which
// only `rotor migrate-key` makes (the engine never changes a sealed
// version, so rotation.Tx does not offer it). The Tx that Store.Tx passes
// to fn offers it: assert rotation.Tx to ResealTx.
type ResealTx interface {
	// ResealVersion replaces the sealed bytes of version seq of credential
	// with to, if they are still from. It fails with ErrSealChanged when
	// they are not (another process resealed or the version is gone).
	ResealVersion(credential string, seq int64, from, to []byte) error
}

// ErrSealChanged: the version's sealed bytes are not what the caller read.
var ErrSealChanged = errors.New("the version's sealed bytes changed since they were read")

var _ ResealTx = (*tx)(nil)

func (t *tx) ResealVersion(credential string, seq int64, from, to []byte) error {
	if len(from) == 0 || len(to) == 0 {
		return fmt.Errorf("reseal version %d of %s: empty sealed bytes", seq, credential)
	}
	res, err := t.exec(`UPDATE versions SET sealed = ? WHERE credential = ? AND seq = ? AND sealed = ?`, to, credential, seq, from)
	if err != nil {
		return fmt.Errorf("reseal version %d of %s: %w", seq, credential, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("reseal version %d of %s: %w", seq, credential, err)
	} else if n == 0 {
		return fmt.Errorf("reseal version %d of %s: %w", seq, credential, ErrSealChanged)
	}
	return nil
}
