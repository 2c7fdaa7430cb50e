package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// Migrate copies everything but leases from one store into an empty one
// (for `rotor migrate-store`): credentials; versions with their sequence
// numbers and sealed bytes as they are (the same key opens them); runs with
// their IDs, which audit records name; binding states in their order; and
// the audit chain record by record, each of which must hash as it did in
// from, so the chain and its head come out identical.
//
// The source's chain is verified first. The copy is one transaction on the
// target: a failure leaves it empty. Stop every rotor using from before.
func Migrate(ctx context.Context, from, to rotation.Store) error {
	dst, ok := to.(*Store)
	if !ok {
		return fmt.Errorf("migrate: the target must be a store opened by store.Open, not %T", to)
	}
	if err := VerifyAudit(ctx, from); err != nil {
		return fmt.Errorf("migrate: the source's audit chain does not verify: %w", err)
	}
	creds, err := from.Credentials(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return dst.tx(ctx, func(t *tx) error {
		if err := t.mustBeEmpty(); err != nil {
			return fmt.Errorf("migrate to %s: %w", dst.name, err)
		}
		var runs []rotation.Run
		for _, c := range creds {
			if err := t.PutCredential(c); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			vs, err := from.Versions(ctx, c.Name)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			slices.Reverse(vs) // oldest first
			for _, v := range vs {
				if err := t.insertVersion(v); err != nil {
					return fmt.Errorf("migrate version %d of %s: %w", v.Seq, v.Credential, err)
				}
			}
			rs, err := from.Runs(ctx, c.Name, 0)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			runs = append(runs, rs...)
		}
		slices.SortFunc(runs, func(a, b rotation.Run) int { return cmp.Compare(a.ID, b.ID) })
		for _, r := range runs {
			if err := t.insertRun(r); err != nil {
				return fmt.Errorf("migrate run %d: %w", r.ID, err)
			}
			states, err := from.Bindings(ctx, r.ID)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if err := t.PutBindings(r.ID, states); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		if dst.d.afterImport != "" {
			if _, err := t.exec(dst.d.afterImport); err != nil {
				return fmt.Errorf("migrate: realign run ids: %w", err)
			}
		}
		return t.copyAudit(ctx, from)
	})
}

// mustBeEmpty refuses a target that already holds anything worth keeping.
func (t *tx) mustBeEmpty() error {
	var creds, head int64
	if err := t.queryRow(`SELECT COUNT(*) FROM credentials`).Scan(&creds); err != nil {
		return err
	}
	if err := t.queryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit`).Scan(&head); err != nil {
		return err
	}
	if creds > 0 || head > 0 {
		return errors.New("the target store is not empty")
	}
	return nil
}

// copyAudit appends from's records up to its head; each must seal to the
// hash it had, which holds exactly when the copy is faithful.
func (t *tx) copyAudit(ctx context.Context, from rotation.Store) error {
	var head int64
	after := int64(0)
	for first := true; ; first = false {
		page, h, err := from.Audit(ctx, after, auditPage)
		if err != nil {
			return fmt.Errorf("migrate audit: %w", err)
		}
		if first {
			head = h.Seq
		}
		for _, r := range page {
			if r.Seq > head {
				return nil
			}
			got, err := t.AppendAudit(r)
			if err != nil {
				return fmt.Errorf("migrate audit: %w", err)
			}
			if got.Seq != r.Seq || got.Hash != r.Hash {
				return fmt.Errorf("migrate audit: record %d hashes differently in the target", r.Seq)
			}
		}
		if len(page) < auditPage {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}
