package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rotor-ci/rotor/internal/audit"
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
func Migrate(ctx context.Context, from, dst *Store) error {
	if err := audit.VerifyChain(ctx, from); err != nil {
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
		if err := t.copyGrantsAndRevocations(ctx, from); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if dst.d.afterImport != "" {
			if _, err := t.exec(dst.d.afterImport); err != nil {
				return fmt.Errorf("migrate: realign run ids: %w", err)
			}
		}
		return t.copyAudit(ctx, from)
	})
}

// copyGrantsAndRevocations copies the GitHub App user grants (whose
// refresh token exists nowhere else) and the revocation queue as they are.
func (t *tx) copyGrantsAndRevocations(ctx context.Context, from *Store) error {
	creds, err := from.grantCredentials(ctx)
	if err != nil {
		return err
	}
	for _, c := range creds {
		g, err := from.Grant(ctx, c)
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO user_grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.Credential, g.Fingerprint, g.Sealed, micros(g.ExpiresAt), g.PairFingerprint, blob(g.Stash), micros(g.StashExpiresAt),
			string(g.State), g.Note, micros(g.UpdatedAt)); err != nil {
			return fmt.Errorf("grant of %s: %w", c, err)
		}
	}
	items, err := from.Revocations(ctx, 0)
	if err != nil {
		return err
	}
	for _, it := range items {
		if _, err := t.exec(`INSERT INTO revocations (credential, fingerprint, sealed, state, enqueued_at, sent_at, confirmed_at, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, it.Credential, it.Fingerprint, blob(it.Sealed), string(it.State), micros(it.EnqueuedAt),
			micros(it.SentAt), micros(it.ConfirmedAt), it.Error); err != nil {
			return fmt.Errorf("revocation of %s: %w", it.Fingerprint, err)
		}
	}
	return nil
}

func (s *Store) grantCredentials(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT credential FROM user_grants ORDER BY credential`)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
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

// auditPage is how many records copyAudit reads at once.
const auditPage = 1000

// copyAudit appends from's records up to its head; each must seal to the
// hash it had, which holds exactly when the copy is faithful.
func (t *tx) copyAudit(ctx context.Context, from *Store) error {
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
