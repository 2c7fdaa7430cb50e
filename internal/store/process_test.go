package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
)

const (
	helperDSN  = "ROTOR_STORE_HELPER_DSN"
	helperName = "ROTOR_STORE_HELPER_NAME"
)

// TestHelperProcess is not a test: other tests run the test binary again
// with it selected, as a second rotor process on the same database.
func TestHelperProcess(t *testing.T) {
	dsn := os.Getenv(helperDSN)
	if dsn == "" {
		t.Skip("only runs as a helper process")
	}
	if appendAndLease(t, dsn, os.Getenv(helperName)) {
		fmt.Println("LEASE WON")
	}
}

// appendAndLease appends 4×25 audit records from one store, then tries to
// tries to take lease "race": it reports whether it won.
func appendAndLease(t *testing.T, dsn, name string) bool {
	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				err := s.Tx(context.Background(), func(tx rotation.Tx) error {
					_, err := tx.AppendAudit(audit.Record{Event: "append", Actor: fmt.Sprintf("%s/%d", name, w), Detail: strconv.Itoa(i)})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	err = s.AcquireLease(context.Background(), "race", name, time.Hour)
	if err != nil && !errors.Is(err, rotation.ErrLeaseHeld) {
		t.Error(err)
	}
	return err == nil
}

// Three processes append to one database at once: one chain, no gaps, and
// exactly one of them gets the lease.
func TestStore_acrossProcesses(t *testing.T) {
	if os.Getenv(helperDSN) != "" {
		t.Skip("nested")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openT(t, dsn) // migrates before the children start
		var cmds []*exec.Cmd
		outs := make([]*lockedBuf, 2)
		for i := range outs {
			cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(), helperDSN+"="+dsn, fmt.Sprintf("%s=child-%d", helperName, i))
			outs[i] = &lockedBuf{}
			cmd.Stdout, cmd.Stderr = outs[i], outs[i]
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		won := 0
		if appendAndLease(t, dsn, "parent") {
			won++
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child %d: %v\n%s", i, err, outs[i].String())
			}
		}
		recs, head, err := s.Audit(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 300 || head.Seq != 300 {
			t.Fatalf("%d records, head %d; want 300", len(recs), head.Seq)
		}
		if err := audit.VerifyChain(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			won += countLine(o.String(), "LEASE WON")
		}
		if won != 1 {
			t.Errorf("%d processes hold the lease, want exactly 1", won)
		}
	})
}
