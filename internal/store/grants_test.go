package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
)

func TestStore_grants(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openOpts(t, dsn, store.Options{})
		if _, err := s.Grant(ctx, "c"); !errors.Is(err, rotation.ErrNotFound) {
			t.Fatalf("Grant of nothing: %v, want ErrNotFound", err)
		}
		g := grant.Grant{Credential: "c", Fingerprint: "sha256:r1", Sealed: []byte("r1"), PairFingerprint: "sha256:a1",
			Stash: []byte("a1"), State: grant.GrantReady, ExpiresAt: time.Unix(2000, 0).UTC()}
		if err := s.ReplaceGrant(ctx, g, ""); err != nil {
			t.Fatal(err)
		}
		// A refresh that read r1 cannot overwrite a grant another process replaced.
		if err := s.ReplaceGrant(ctx, grant.Grant{Credential: "c", Fingerprint: "sha256:r3", Sealed: []byte("r3")}, "sha256:r2"); !errors.Is(err, grant.ErrGrantChanged) {
			t.Fatalf("conditional replace on a stale fingerprint: %v, want ErrGrantChanged", err)
		}
		if err := s.SetGrantState(ctx, "c", "sha256:r2", grant.GrantLost, "x"); !errors.Is(err, grant.ErrGrantChanged) {
			t.Fatalf("SetGrantState on a stale fingerprint: %v", err)
		}
		if err := s.SetGrantState(ctx, "c", "sha256:r1", grant.GrantRefreshing, ""); err != nil {
			t.Fatal(err)
		}
		got, err := s.Grant(ctx, "c")
		if err != nil || got.State != grant.GrantRefreshing || string(got.Sealed) != "r1" || !got.ExpiresAt.Equal(g.ExpiresAt) {
			t.Fatalf("Grant = %+v, %v", got, err)
		}
		// The stash is handed over once.
		if b, err := s.TakeStash(ctx, "c", "sha256:a1"); err != nil || string(b) != "a1" {
			t.Fatalf("TakeStash = %q, %v", b, err)
		}
		if b, err := s.TakeStash(ctx, "c", "sha256:a1"); err != nil || b != nil {
			t.Fatalf("second TakeStash = %q, %v; want nothing", b, err)
		}
		if err := s.ReplaceGrant(ctx, grant.Grant{Credential: "c", Fingerprint: "sha256:r2", Sealed: []byte("r2"), State: grant.GrantReady}, "sha256:r1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Grant(ctx, "c"); got.Fingerprint != "sha256:r2" || got.State != grant.GrantReady || got.Stash != nil {
			t.Fatalf("after refresh: %+v", got)
		}
	})
}

func TestStore_revocations(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openOpts(t, dsn, store.Options{})
		for _, fp := range []string{"sha256:a", "sha256:b", "sha256:a"} {
			if err := s.EnqueueRevocation(ctx, revoke.Item{Credential: "c", Fingerprint: fp, Sealed: []byte(fp)}); err != nil {
				t.Fatal(err)
			}
		}
		items, err := s.Revocations(ctx, 0, revoke.ItemQueued)
		if err != nil || len(items) != 2 || items[0].Fingerprint != "sha256:a" {
			t.Fatalf("queued = %+v, %v; want a, b once each", items, err)
		}
		it := items[0]
		it.State, it.ConfirmedAt = revoke.ItemConfirmed, time.Now()
		if err := s.UpdateRevocation(ctx, it); err != nil {
			t.Fatal(err)
		}
		all, _ := s.Revocations(ctx, 0)
		if all[0].State != revoke.ItemConfirmed || all[0].Sealed != nil || all[1].Sealed == nil {
			t.Fatalf("a confirmed revocation keeps no token: %+v", all)
		}
		// Another process, whose revocation call killed the token, comes
		// back to mark it sent after this one confirmed it: the item stays
		// confirmed (never "sent" without the value to confirm it by).
		late := items[0]
		late.State, late.SentAt = revoke.ItemSent, time.Now()
		if err := s.UpdateRevocation(ctx, late); err != nil {
			t.Fatalf("a late step back: %v, want it ignored", err)
		}
		if all, _ := s.Revocations(ctx, 0); all[0].State != revoke.ItemConfirmed {
			t.Fatalf("a confirmed revocation moved back to %s (found by the torture run: two flushes at once)", all[0].State)
		}
		if sent, _ := s.Revocations(ctx, 0, revoke.ItemSent); len(sent) != 0 {
			t.Fatalf("sent = %+v, want none", sent)
		}
		missing := revoke.Item{ID: 9999, State: revoke.ItemSent}
		if err := s.UpdateRevocation(ctx, missing); err == nil {
			t.Fatal("updating a revocation that does not exist succeeded")
		}
	})
}

// The hourly budget of the revocation API is shared by every process: 60
// concurrent takers get 3 calls between them when the limit is 3.
func TestStore_TakeRevokeCall(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openOpts(t, dsn, store.Options{})
		other := openOpts(t, dsn, store.Options{})
		now := time.Unix(1_800_000_000, 0).UTC()
		var mu sync.Mutex
		granted := 0
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				st := s
				if i%2 == 1 {
					st = other
				}
				ok, _, err := st.TakeRevokeCall(ctx, now, 3)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					granted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if granted != 3 {
			t.Fatalf("%d calls granted, want 3", granted)
		}
		ok, next, err := s.TakeRevokeCall(ctx, now.Add(59*time.Minute), 3)
		if err != nil || ok || !next.Equal(now.Add(time.Hour)) {
			t.Fatalf("within the hour: ok=%v next=%v err=%v; want refused until %v", ok, next, err, now.Add(time.Hour))
		}
		if ok, _, err := s.TakeRevokeCall(ctx, now.Add(time.Hour+time.Second), 3); err != nil || !ok {
			t.Fatalf("after the hour: ok=%v err=%v", ok, err)
		}
	})
}

func TestStore_LastAudit(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openOpts(t, dsn, store.Options{})
		ctx := context.Background()
		if _, err := s.LastAudit(ctx, "a", "org_access_revoked"); !errors.Is(err, rotation.ErrNotFound) {
			t.Fatalf("LastAudit of an empty chain: %v, want ErrNotFound", err)
		}
		for _, r := range []audit.Record{
			{Credential: "a", Event: "org_access_revoked", Detail: "first"},
			{Credential: "b", Event: "org_access_revoked", Detail: "b's"},
			{Credential: "a", Event: "org_access_revoked", Detail: "second"},
			{Credential: "a", Event: "retired", Detail: "not it"},
		} {
			mustTx(t, s, func(tx rotation.Tx) error { _, err := tx.AppendAudit(r); return err })
		}
		got, err := s.LastAudit(ctx, "a", "org_access_revoked")
		if err != nil || got.Detail != "second" || got.Seq != 3 || got.Hash == "" {
			t.Fatalf("LastAudit: %+v, %v; want record 3 (second)", got, err)
		}
		if _, err := s.LastAudit(ctx, "c", "org_access_revoked"); !errors.Is(err, rotation.ErrNotFound) {
			t.Fatalf("LastAudit of another credential: %v, want ErrNotFound", err)
		}
	})
}
