package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
)

func TestStore_ResealVersion(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openOpts(t, dsn, store.Options{})
		mustTx(t, s, func(tx rotation.Tx) error {
			_, err := tx.AddVersion(rotation.Version{Credential: "app", Fingerprint: "sha256:000000000001", Sealed: []byte("old")})
			return err
		})
		reseal := func(from, to string) error {
			return s.Tx(context.Background(), func(tx rotation.Tx) error {
				return tx.(store.ResealTx).ResealVersion("app", 1, []byte(from), []byte(to))
			})
		}
		if err := reseal("old", "new"); err != nil {
			t.Fatal(err)
		}
		if err := reseal("old", "newer"); !errors.Is(err, store.ErrSealChanged) {
			t.Errorf("reseal from stale bytes = %v, want ErrSealChanged", err)
		}
		vs, err := s.Versions(context.Background(), "app")
		if err != nil || len(vs) != 1 || string(vs[0].Sealed) != "new" || vs[0].Fingerprint != "sha256:000000000001" {
			t.Fatalf("after reseal: %+v, %v", vs, err)
		}
		// A failed transaction leaves what was there.
		boom := errors.New("boom")
		err = s.Tx(context.Background(), func(tx rotation.Tx) error {
			if err := tx.(store.ResealTx).ResealVersion("app", 1, []byte("new"), []byte("lost")); err != nil {
				return err
			}
			return boom
		})
		if vs, _ := s.Versions(context.Background(), "app"); !errors.Is(err, boom) || string(vs[0].Sealed) != "new" {
			t.Errorf("rolled-back reseal left %q (%v)", vs[0].Sealed, err)
		}
	})
}
