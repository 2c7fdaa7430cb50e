package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/lease"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/wiring"
)

type migrateKeyFlags struct {
	from, to string
	dryRun   bool
}

// migrateKeyReport is what migrate-key prints.
type migrateKeyReport struct {
	From   string `json:"from"`
	To     string `json:"to"`
	DryRun bool   `json:"dry_run"`
	// CreatedKey is the --to key file migrate-key created (file: only).
	CreatedKey  string                 `json:"created_key,omitempty"`
	Credentials []migrateKeyCredential `json:"credentials"`
	Resealed    int                    `json:"resealed"` // versions; would be, in a dry run
	Already     int                    `json:"already"`  // sealed with --to before; opened and checked
	// Grants (App user grants' refresh tokens and stashed user tokens) and
	// Revocations (tokens queued for revocation) are the store's other
	// sealed tokens, resealed in the same transaction.
	Grants      migrateKeyCount `json:"grants"`
	Revocations migrateKeyCount `json:"revocations"`
	// Verified: every sealed token, read back from the store after the
	// commit, opens with --to and holds the token its fingerprint names.
	Verified bool   `json:"verified"`
	AuditSeq int64  `json:"audit_seq,omitempty"`
	Next     string `json:"next"`
}

// migrateKeyCount counts one kind of sealed token.
type migrateKeyCount struct {
	Total    int `json:"total"`
	Resealed int `json:"resealed"`
	Already  int `json:"already"`
}

type migrateKeyCredential struct {
	Name     string `json:"name"`
	Versions int    `json:"versions"`
	Resealed int    `json:"resealed"`
	Already  int    `json:"already"`
}

// migrateKeyHook, when set (by tests only), is called at each named point
// of a migration: "resealed" (every new blob made, nothing written),
// "writing" (inside the transaction, half the versions rewritten) and
// "committed". The crash tests kill the process there.
var migrateKeyHook func(point string)

func migrateKeyAt(point string) {
	if migrateKeyHook != nil {
		migrateKeyHook(point)
	}
}

func newMigrateKeyCmd(app *App) *cobra.Command {
	var f migrateKeyFlags
	cmd := &cobra.Command{
		Use:   "migrate-key --from KEY --to KEY [--dry-run]",
		Short: "Reseal every stored token with another key (age key file ⇄ AWS KMS)",
		Long: `Reseal every sealed token in the store with another key: from the age key
file to AWS KMS, back, or between two keys of one kind. Keys are written as
in rotor.yaml: file:PATH (relative to rotor.yaml's directory) or
awskms:ARN (a KMS key ARN; AWS settings from rotor.yaml's aws: section).
Sealed are the token versions, the refresh tokens (and stashed user tokens)
of GitHub App user grants, and tokens queued for revocation; "version"
below means any of them.

Each version is opened with --from (or, if --to sealed it already, only
checked), sealed with --to and opened again with --to before anything is
written. The new blobs are written in one transaction, with an audit
record: a failure or a crash leaves every version as it was, sealed with
--from, and running the command again starts over. After the commit every
version is read back and opened with --to, and must hold the token its
fingerprint names.

While it runs, migrate-key holds every credential's lease, so no rotation
mints or reads a version in between; a credential being rotated makes it
stop and say so.

--dry-run does all of it but the writing: it proves that --from opens every
version and that --to can seal and open (for KMS: GenerateDataKey and
Decrypt are allowed), and changes nothing.

migrate-key does not edit rotor.yaml. Afterwards set key: to the --to key
and restart rotor; docs/kms.md has the whole procedure and how to roll back.
A --to key file that does not exist is created (mode 0600).`,
		Example: `  rotor migrate-key --from file:rotor.key --to awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab --dry-run
  rotor migrate-key --from file:rotor.key --to awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
  # then, in rotor.yaml:  key: awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrateKey(cmd.Context(), app, f)
		},
	}
	cmd.Flags().StringVar(&f.from, "from", "", "the key the versions are sealed with now: file:PATH or awskms:ARN (required)")
	cmd.Flags().StringVar(&f.to, "to", "", "the key to reseal them with: awskms:ARN or file:PATH (required)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "open and reseal every version in memory, write nothing")
	return cmd
}

// sealedKind tells the store's sealed tokens apart in the report.
type sealedKind int

const (
	sealedVersion sealedKind = iota
	sealedGrant              // a grant's refresh token or stashed user token
	sealedRevocation
)

// sealedValue is one sealed token in the store, as read.
type sealedValue struct {
	kind   sealedKind
	cred   int    // versions: index into the report's Credentials
	what   string // names it in messages, by fingerprint
	sc     rotation.SealContext
	sealed []byte
	// write replaces sealed with fresh in tx (only if it is still sealed).
	write func(tx wiring.ResealTx, fresh []byte) error
}

// resealed is one sealed token's new blob, made and checked, not yet
// written.
type resealed struct {
	sealedValue
	new []byte
}

func runMigrateKey(ctx context.Context, app *App, f migrateKeyFlags) error {
	if f.from == "" || f.to == "" {
		return usageErrorf("both --from and --to are required")
	}
	cfg, err := app.loadConfig()
	if err != nil {
		return err
	}
	rep := migrateKeyReport{DryRun: f.dryRun}
	from, err := wiring.OpenKey(ctx, cfg, f.from, app.Wiring...)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--from: %w", err)}
	}
	to, cleanup, err := openTargetKey(ctx, app, cfg, f, &rep)
	if err != nil {
		return err
	}
	defer cleanup()
	if from.Spec() == to.Spec() {
		return usageErrorf("--from and --to name the same key (%s)", from.Spec())
	}
	rep.From, rep.To = from.Spec(), to.Spec()

	st, err := wiring.OpenStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	names, err := credentialNames(ctx, st, cfg)
	if err != nil {
		return err
	}
	holder := migrateKeyHolder()
	if !f.dryRun {
		var release func()
		if ctx, release, err = holdLeases(ctx, st, holder, names); err != nil {
			return err
		}
		defer release()
	}

	work, err := planReseal(ctx, st, names, from, to, &rep)
	if err != nil {
		return err
	}
	migrateKeyAt("resealed")
	if f.dryRun {
		rep.Next = fmt.Sprintf("dry run: nothing was written. Run again without --dry-run to reseal %d sealed tokens with %s.", len(work), rep.To)
		return emitMigrateKey(app, rep)
	}

	if len(work) > 0 {
		if err := writeResealed(ctx, st, work, holder, &rep); err != nil {
			return err
		}
	}
	migrateKeyAt("committed")

	if err := verifyResealed(ctx, st, names, to); err != nil {
		return fmt.Errorf("the resealed tokens were written but do not all open with %s (one queued for revocation meanwhile by a rotor still on the old key? run migrate-key again): %w", rep.To, err)
	}
	rep.Verified = true
	rep.Next = nextAfterMigrateKey(cfg, rep.To)
	return emitMigrateKey(app, rep)
}

// writeResealed writes every new blob and the audit record in one
// transaction: all of them or, after a failure or a crash, none. A sealed
// token changed meanwhile by another process (a grant refreshed, a queued
// revocation confirmed) fails it: nothing is written.
func writeResealed(ctx context.Context, st rotation.Store, work []resealed, holder string, rep *migrateKeyReport) error {
	if err := lease.Check(ctx); err != nil {
		return err
	}
	err := st.Tx(ctx, func(tx rotation.Tx) error {
		if err := lease.Check(ctx); err != nil {
			return err
		}
		rtx, ok := tx.(wiring.ResealTx)
		if !ok {
			return fmt.Errorf("this store (%T) cannot reseal versions", tx)
		}
		for i, w := range work {
			if i == len(work)/2 {
				migrateKeyAt("writing")
			}
			if err := w.write(rtx, w.new); err != nil {
				return err
			}
		}
		detail, _ := json.Marshal(map[string]any{"from": rep.From, "to": rep.To, "resealed": rep.Resealed, "already": rep.Already,
			"grants": rep.Grants, "revocations": rep.Revocations})
		rec, err := tx.AppendAudit(audit.Record{Time: time.Now(), Event: "key.migrated", Actor: holder, Detail: string(detail)})
		rep.AuditSeq = rec.Seq
		return err
	})
	if err != nil {
		return fmt.Errorf("write the resealed versions (nothing was changed): %w", err)
	}
	return nil
}

// openTargetKey opens --to, creating a key file that does not exist yet. A
// dry run creates nothing: it rehearses with a throwaway key file in a
// temporary directory, removed by cleanup.
func openTargetKey(ctx context.Context, app *App, cfg *config.Config, f migrateKeyFlags, rep *migrateKeyReport) (wiring.Key, func(), error) {
	cleanup := func() {}
	spec := f.to
	if p, ok := strings.CutPrefix(f.to, wiring.KeyFilePrefix); ok && p != "" {
		path := cfg.ResolvePath(p)
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			target := path
			if f.dryRun {
				dir, err := os.MkdirTemp("", "rotor-migrate-key-")
				if err != nil {
					return nil, cleanup, err
				}
				cleanup = func() { os.RemoveAll(dir) }
				target = filepath.Join(dir, "rehearsal.key")
			}
			if err := wiring.GenerateKey(target); err != nil {
				return nil, cleanup, fmt.Errorf("--to: %w", err)
			}
			rep.CreatedKey = path
			spec = wiring.KeyFilePrefix + target
		}
	}
	to, err := wiring.OpenKey(ctx, cfg, spec, app.Wiring...)
	if err != nil {
		return nil, cleanup, &UsageError{Err: fmt.Errorf("--to: %w", err)}
	}
	if rep.CreatedKey != "" && f.dryRun {
		// Report the key as it will be named, not the rehearsal's file.
		return renamedKey{Key: to, spec: wiring.KeyFilePrefix + rep.CreatedKey}, cleanup, nil
	}
	return to, cleanup, nil
}

// renamedKey is a rehearsal key that reports the spec of the key it
// stands in for.
type renamedKey struct {
	wiring.Key
	spec string
}

func (k renamedKey) Spec() string { return k.spec }

// credentialNames is every credential the store or the config knows: the
// config's too, so that adopting one cannot add a version mid-migration.
func credentialNames(ctx context.Context, st rotation.Store, cfg *config.Config) ([]string, error) {
	recs, err := st.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	for _, c := range cfg.Credentials {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// migrateKeyHolder names migrate-key in leases and the audit log. It has no
// process id, unlike the engine's: migrate-key run again on the same host
// after a crash takes its own leases back at once instead of waiting for
// them to expire. Two migrate-keys at once on one host are still safe: a
// version is rewritten only if its bytes are what was read.
func migrateKeyHolder() string {
	host, _ := os.Hostname()
	return "migrate-key@" + host
}

// migrateKeyLeaseTTL is each lease's life without renewal, as the engine's.
const migrateKeyLeaseTTL = 30 * time.Second

// holdLeases takes every named credential's lease and renews them until
// release is called. The returned context carries the lease guard: once
// the leases may have lapsed, AWS calls and the write refuse to go on.
func holdLeases(ctx context.Context, st rotation.Store, holder string, names []string) (context.Context, func(), error) {
	lctx, held, err := lease.Hold(ctx, st, holder, names, lease.Options{TTL: migrateKeyLeaseTTL})
	var taken *lease.TakeError
	switch {
	case errors.As(err, &taken) && errors.Is(err, rotation.ErrLeaseHeld):
		return ctx, nil, fmt.Errorf("credential %s: %w (a rotation is under way): run migrate-key again once it has finished", taken.Name, taken.Err)
	case errors.As(err, &taken):
		return ctx, nil, fmt.Errorf("credential %s: take its lease: %w", taken.Name, taken.Err)
	case err != nil:
		return ctx, nil, err
	}
	return lctx, func() { _ = held.Release() }, nil
}

// sealedValues reads every sealed token in the store: the versions of the
// named credentials (adding each to rep.Credentials), every App user
// grant's refresh token and stashed user token, and every queued
// revocation that still holds its token.
func sealedValues(ctx context.Context, st wiring.Store, names []string, rep *migrateKeyReport) ([]sealedValue, error) {
	var out []sealedValue
	for _, n := range names {
		vs, err := st.Versions(ctx, n)
		if err != nil {
			return nil, err
		}
		ci := -1
		if rep != nil {
			rep.Credentials = append(rep.Credentials, migrateKeyCredential{Name: n})
			ci = len(rep.Credentials) - 1
		}
		for _, v := range vs {
			if len(v.Sealed) == 0 {
				continue // nothing sealed to move (not written by rotor today, kept for old stores)
			}
			out = append(out, sealedValue{kind: sealedVersion, cred: ci, what: fmt.Sprintf("version %d of %s (%s)", v.Seq, v.Credential, v.Fingerprint),
				sc: v.SealContext(), sealed: v.Sealed, write: func(tx wiring.ResealTx, fresh []byte) error {
					return tx.ResealVersion(v.Credential, v.Seq, v.Sealed, fresh)
				}})
		}
	}
	grants, err := st.ListGrants(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		out = append(out, sealedValue{kind: sealedGrant, what: fmt.Sprintf("the refresh token of %s's App user grant (%s)", g.Credential, g.Fingerprint),
			sc: rotation.SealContext{Credential: g.Credential, Fingerprint: g.Fingerprint}, sealed: g.Sealed,
			write: func(tx wiring.ResealTx, fresh []byte) error { return tx.ResealGrant(g.Credential, g.Sealed, fresh) }})
		if len(g.Stash) > 0 {
			out = append(out, sealedValue{kind: sealedGrant, what: fmt.Sprintf("the stashed user token of %s's App user grant (%s)", g.Credential, g.PairFingerprint),
				sc: rotation.SealContext{Credential: g.Credential, Fingerprint: g.PairFingerprint}, sealed: g.Stash,
				write: func(tx wiring.ResealTx, fresh []byte) error { return tx.ResealStash(g.Credential, g.Stash, fresh) }})
		}
	}
	items, err := st.Revocations(ctx, 0)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if len(it.Sealed) == 0 {
			continue // confirmed: the token is dead and was forgotten
		}
		out = append(out, sealedValue{kind: sealedRevocation, what: fmt.Sprintf("the token of %s queued for revocation (%s)", it.Credential, it.Fingerprint),
			sc: rotation.SealContext{Credential: it.Credential, Fingerprint: it.Fingerprint}, sealed: it.Sealed,
			write: func(tx wiring.ResealTx, fresh []byte) error { return tx.ResealRevocation(it.ID, it.Sealed, fresh) }})
	}
	return out, nil
}

// planReseal opens every sealed token and makes its new blob, checked by
// opening it with to. Nothing is written. Every one that fails is
// reported, not only the first.
func planReseal(ctx context.Context, st wiring.Store, names []string, from, to wiring.Key, rep *migrateKeyReport) ([]resealed, error) {
	jobs, err := sealedValues(ctx, st, names, rep)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		switch j.kind {
		case sealedVersion:
			rep.Credentials[j.cred].Versions++
		case sealedGrant:
			rep.Grants.Total++
		case sealedRevocation:
			rep.Revocations.Total++
		}
	}

	// A few at a time: with KMS each one is two or three calls.
	const workers = 4
	var (
		mu    sync.Mutex
		work  []resealed
		fails []string
		wg    sync.WaitGroup
		next  = make(chan sealedValue)
	)
	for range workers {
		wg.Go(func() {
			for j := range next {
				w, already, err := resealOne(ctx, j, from, to)
				mu.Lock()
				switch {
				case err != nil:
					fails = append(fails, fmt.Sprintf("%s: %v", j.what, err))
				default:
					rep.count(j, already)
					if !already {
						work = append(work, w)
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if len(fails) > 0 {
		slices.Sort(fails)
		return nil, fmt.Errorf("nothing was changed: %d of %d sealed tokens cannot be resealed:\n  %s", len(fails), len(jobs), strings.Join(fails, "\n  "))
	}
	slices.SortFunc(work, func(a, b resealed) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), strings.Compare(a.what, b.what))
	})
	return work, nil
}

// count adds j to the report, as resealed or already: a version to the
// totals and its credential's row, the others to their kind's count.
func (rep *migrateKeyReport) count(j sealedValue, already bool) {
	var c *migrateKeyCount
	switch j.kind {
	case sealedVersion:
		cr := &rep.Credentials[j.cred]
		if already {
			rep.Already++
			cr.Already++
		} else {
			rep.Resealed++
			cr.Resealed++
		}
		return
	case sealedGrant:
		c = &rep.Grants
	case sealedRevocation:
		c = &rep.Revocations
	}
	if already {
		c.Already++
	} else {
		c.Resealed++
	}
}

// resealOne makes v's blob under to. already: to sealed it before (it
// opened with to and holds its fingerprint's token): nothing to write.
func resealOne(ctx context.Context, v sealedValue, from, to wiring.Key) (resealed, bool, error) {
	if _, err := to.Open(ctx, v.sc, v.sealed); err == nil {
		return resealed{}, true, nil
	} else if !errors.Is(err, wiring.ErrWrongKey) {
		return resealed{}, false, fmt.Errorf("open with --to: %w", err)
	}
	tok, err := from.Open(ctx, v.sc, v.sealed)
	if errors.Is(err, wiring.ErrWrongKey) {
		return resealed{}, false, errors.New("sealed with neither --from nor --to")
	} else if err != nil {
		return resealed{}, false, fmt.Errorf("open with --from: %w", err)
	}
	blob, err := to.Seal(ctx, v.sc, tok)
	if err != nil {
		return resealed{}, false, fmt.Errorf("seal with --to: %w", err)
	}
	back, err := to.Open(ctx, v.sc, blob)
	if err != nil {
		return resealed{}, false, fmt.Errorf("open the new blob with --to: %w", err)
	}
	if !back.Equal(tok) {
		return resealed{}, false, errors.New("the new blob opens to another token")
	}
	return resealed{sealedValue: v, new: blob}, false, nil
}

// verifyResealed reads every sealed token back and opens it with to; the
// fingerprint check is the key's own (seal.ErrContext on a mismatch).
func verifyResealed(ctx context.Context, st wiring.Store, names []string, to wiring.Key) error {
	all, err := sealedValues(ctx, st, names, nil)
	if err != nil {
		return err
	}
	for _, v := range all {
		if _, err := to.Open(ctx, v.sc, v.sealed); err != nil {
			return fmt.Errorf("%s: %w", v.what, err)
		}
	}
	return nil
}

// nextAfterMigrateKey tells the person what is left to do: rotor.yaml.
func nextAfterMigrateKey(cfg *config.Config, to string) string {
	if cfg.Key == to {
		return fmt.Sprintf("rotor.yaml already says key: %s. Nothing left to do.", to)
	}
	msg := fmt.Sprintf("now change rotor.yaml: key: %s (it still says key: %s), then restart every rotor process.", to, cfg.Key)
	if !slices.Contains(cfg.PreviousKeys, to) {
		msg += " Until then rotor cannot open the resealed versions."
	}
	return msg + " See docs/kms.md."
}

func emitMigrateKey(app *App, rep migrateKeyReport) error {
	return app.emit(rep, func(w io.Writer) {
		verb := "resealed"
		if rep.DryRun {
			verb = "would reseal"
		}
		fmt.Fprintf(w, "%s %d of %d token versions (%d sealed with the new key already)\n", verb, rep.Resealed, rep.Resealed+rep.Already, rep.Already)
		for _, o := range []struct {
			what string
			c    migrateKeyCount
		}{{"refresh and stashed user tokens of GitHub App user grants", rep.Grants}, {"tokens queued for revocation", rep.Revocations}} {
			if o.c.Total > 0 {
				fmt.Fprintf(w, "%s %d of %d %s (%d sealed with the new key already)\n", verb, o.c.Resealed, o.c.Total, o.what, o.c.Already)
			}
		}
		fmt.Fprintf(w, "    from %s\n      to %s\n", rep.From, rep.To)
		if rep.CreatedKey != "" {
			if rep.DryRun {
				fmt.Fprintf(w, "the key file %s does not exist: it will be created (rehearsed with a throwaway key)\n", rep.CreatedKey)
			} else {
				fmt.Fprintf(w, "created the key file %s (0600): back it up\n", rep.CreatedKey)
			}
		}
		fmt.Fprintf(w, "CREDENTIAL\tVERSIONS\tRESEALED\tALREADY\n")
		for _, c := range rep.Credentials {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", c.Name, c.Versions, c.Resealed, c.Already)
		}
		if rep.Verified {
			fmt.Fprintf(w, "verified: every sealed token, read back from the store, opens with the new key and matches its fingerprint\n")
		}
		if rep.AuditSeq != 0 {
			fmt.Fprintf(w, "audit record %d: key.migrated\n", rep.AuditSeq)
		}
		fmt.Fprintf(w, "next: %s\n", rep.Next)
	})
}
