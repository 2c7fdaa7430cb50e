package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/revoke"
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

// A grant's refresh token and stash and a queued revocation are resealed
// as versions are: only from the bytes read, all or nothing.
func TestStore_ResealGrantsAndRevocations(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openOpts(t, dsn, store.Options{})
		if err := s.ReplaceGrant(ctx, grant.Grant{Credential: "c", Fingerprint: "sha256:r1", Sealed: []byte("r-old"),
			PairFingerprint: "sha256:a1", Stash: []byte("a-old"), State: grant.GrantReady}, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.EnqueueRevocation(ctx, revoke.Item{Credential: "c", Fingerprint: "sha256:q", Sealed: []byte("q-old")}); err != nil {
			t.Fatal(err)
		}
		items, _ := s.Revocations(ctx, 0)
		id := items[0].ID
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx rotation.Tx) error {
			rtx := tx.(store.ResealTx)
			if err := rtx.ResealGrant("c", []byte("r-old"), []byte("lost")); err != nil {
				return err
			}
			return boom
		})
		if g, _ := s.Grant(ctx, "c"); !errors.Is(err, boom) || string(g.Sealed) != "r-old" {
			t.Fatalf("rolled-back reseal left %q (%v)", g.Sealed, err)
		}
		mustTx(t, s, func(tx rotation.Tx) error {
			rtx := tx.(store.ResealTx)
			return errors.Join(rtx.ResealGrant("c", []byte("r-old"), []byte("r-new")), rtx.ResealStash("c", []byte("a-old"), []byte("a-new")),
				rtx.ResealRevocation(id, []byte("q-old"), []byte("q-new")))
		})
		g, err := s.ListGrants(ctx)
		if err != nil || len(g) != 1 || string(g[0].Sealed) != "r-new" || string(g[0].Stash) != "a-new" || g[0].Fingerprint != "sha256:r1" {
			t.Fatalf("grants after reseal: %+v, %v", g, err)
		}
		if items, _ := s.Revocations(ctx, 0); string(items[0].Sealed) != "q-new" {
			t.Fatalf("revocation after reseal: %q", items[0].Sealed)
		}
		for name, f := range map[string]func(store.ResealTx) error{
			"grant":      func(r store.ResealTx) error { return r.ResealGrant("c", []byte("r-old"), []byte("x")) },
			"stash":      func(r store.ResealTx) error { return r.ResealStash("c", []byte("a-old"), []byte("x")) },
			"revocation": func(r store.ResealTx) error { return r.ResealRevocation(id, []byte("q-old"), []byte("x")) },
		} {
			err := s.Tx(ctx, func(tx rotation.Tx) error { return f(tx.(store.ResealTx)) })
			if !errors.Is(err, store.ErrSealChanged) {
				t.Errorf("%s: reseal from stale bytes = %v, want ErrSealChanged", name, err)
			}
		}
	})
}
