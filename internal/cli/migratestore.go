package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

type migrateStoreFlags struct {
	from, to string
	dryRun   bool
}

// migrateReport is what migrate-store prints: what the target holds after
// the copy, counted from the target itself.
type migrateReport struct {
	From         string `json:"from"`
	To           string `json:"to"`
	Credentials  int    `json:"credentials"`
	Versions     int    `json:"versions"`
	Runs         int    `json:"runs"`
	OpenRuns     int    `json:"open_runs"`
	AuditRecords int64  `json:"audit_records"`
	AuditHead    string `json:"audit_head"`
	AuditOK      bool   `json:"audit_ok"`
	DryRun       bool   `json:"dry_run,omitempty"`
}

func newMigrateStoreCmd(app *App) *cobra.Command {
	var f migrateStoreFlags
	cmd := &cobra.Command{
		Use:   "migrate-store --from DSN --to DSN",
		Short: "Copy an installation's store into another database (SQLite to PostgreSQL for replicas)",
		Long: `Copy everything rotor remembers — credentials, sealed token versions, runs,
binding states and the audit chain — from one store into another, empty one,
typically from the embedded SQLite file to the PostgreSQL database that
several 'rotor serve' replicas share.

The source's audit chain is verified first; the copy is one transaction (a
failure leaves the target empty); every audit record must hash in the target
exactly as it did in the source, and the target's chain is verified again at
the end, as 'rotor audit verify' would. Token versions stay sealed: the same
key opens them, so keep 'key:' as it is and change only 'store:'.

Stop every rotor process that uses the source first: what they write after
the copy is not copied. Leases are not copied (they belong to processes).
An unfinished run is copied as it is and resumes on the target.

A relative sqlite: path is relative to the working directory. A target that
already holds credentials or audit records is refused.`,
		Example: `  rotor migrate-store --from sqlite:rotor.db --to 'postgres://rotor@db.internal:5432/rotor?sslmode=verify-full'
  # then, in rotor.yaml:  store: postgres://rotor@db.internal:5432/rotor?sslmode=verify-full
  rotor audit verify
  rotor migrate-store --from sqlite:rotor.db --to postgres://rotor@db/rotor --dry-run   # check and count the source only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrateStore(cmd.Context(), app, f)
		},
	}
	cmd.Flags().StringVar(&f.from, "from", "", "the store to copy: sqlite:PATH or postgres://… (required)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "verify the source's audit chain and count what would be copied; open no target")
	cmd.Flags().StringVar(&f.to, "to", "", "the empty store to copy into: postgres://… or sqlite:PATH (required)")
	return cmd
}

func runMigrateStore(ctx context.Context, app *App, f migrateStoreFlags) error {
	switch {
	case f.from == "" || f.to == "":
		return usageErrorf("both --from and --to are required")
	case f.from == f.to:
		return usageErrorf("--from and --to name the same store")
	}
	// Opening a store creates a missing SQLite file; as a source that would copy
	// nothing and report success, so a typo must fail here.
	if path, ok := strings.CutPrefix(f.from, "sqlite:"); ok && path != ":memory:" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("--from %s: no such file", f.from)
		}
	}
	if f.dryRun {
		return migrateStoreDryRun(ctx, app, f)
	}
	from, to, err := wiring.MigrateStore(ctx, f.from, f.to)
	if err != nil {
		return err
	}
	defer from.Close()
	defer to.Close()
	rep, err := countStore(ctx, to)
	if err != nil {
		return fmt.Errorf("count the target: %w", err)
	}
	rep.From, rep.To = fmt.Sprint(from), fmt.Sprint(to)
	if err := audit.VerifyChain(ctx, to); err != nil {
		return fmt.Errorf("the copy's audit chain does not verify: %w", err)
	}
	rep.AuditOK = true
	return app.emit(rep, func(w io.Writer) {
		fmt.Fprintf(w, "copied %s\n    to %s\n", rep.From, rep.To)
		fmt.Fprintf(w, "credentials\t%d\n", rep.Credentials)
		fmt.Fprintf(w, "token versions\t%d\t(sealed; the same key opens them)\n", rep.Versions)
		fmt.Fprintf(w, "runs\t%d\t(%d unfinished: they resume on the target)\n", rep.Runs, rep.OpenRuns)
		fmt.Fprintf(w, "audit records\t%d\thead %s, chain verified on the target\n", rep.AuditRecords, short(rep.AuditHead))
		fmt.Fprintf(w, "next: set 'store:' in rotor.yaml to the target, then run 'rotor audit verify' and start rotor\n")
	})
}

// countStore counts what s holds through the Store interface, so the counts
// come from the target and not from what was sent to it.
func countStore(ctx context.Context, s status.Reader) (migrateReport, error) {
	var rep migrateReport
	creds, err := s.Credentials(ctx)
	if err != nil {
		return rep, err
	}
	rep.Credentials = len(creds)
	for _, c := range creds {
		vs, err := s.Versions(ctx, c.Name)
		if err != nil {
			return rep, err
		}
		runs, err := s.Runs(ctx, c.Name, 0)
		if err != nil {
			return rep, err
		}
		rep.Versions += len(vs)
		rep.Runs += len(runs)
		for _, r := range runs {
			if r.Status == rotation.RunRunning {
				rep.OpenRuns++
			}
		}
	}
	_, head, err := s.Audit(ctx, 0, 1)
	if err != nil {
		return rep, err
	}
	rep.AuditRecords, rep.AuditHead = head.Seq, head.Hash
	return rep, nil
}

// migrateStoreDryRun checks and counts the source as the copy would, and
// neither opens nor creates the target.
func migrateStoreDryRun(ctx context.Context, app *App, f migrateStoreFlags) error {
	from, err := wiring.OpenStore(ctx, f.from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer from.Close()
	if err := audit.VerifyChain(ctx, from); err != nil {
		return fmt.Errorf("the source's audit chain does not verify, nothing would be copied: %w", err)
	}
	rep, err := countStore(ctx, from)
	if err != nil {
		return fmt.Errorf("count the source: %w", err)
	}
	rep.From, rep.To, rep.AuditOK, rep.DryRun = fmt.Sprint(from), f.to, true, true
	return app.emit(rep, func(w io.Writer) {
		fmt.Fprintf(w, "would copy %s\n        to %s (not opened: --dry-run)\n", rep.From, rep.To)
		fmt.Fprintf(w, "credentials\t%d\n", rep.Credentials)
		fmt.Fprintf(w, "token versions\t%d\n", rep.Versions)
		fmt.Fprintf(w, "runs\t%d\t(%d unfinished)\n", rep.Runs, rep.OpenRuns)
		fmt.Fprintf(w, "audit records\t%d\thead %s, chain verified on the source\n", rep.AuditRecords, short(rep.AuditHead))
	})
}
