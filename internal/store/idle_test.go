package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/store/pgtest"
)

func TestOpen_idleInTransactionTimeout(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{"default", "", store.IdleInTransactionTimeout},
		{"the DSN's own value wins", "&idle_in_transaction_session_timeout=3s", "3s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openOpts(t, pgtest.DSN(t)+tt.extra, store.Options{})
			var got string
			if err := s.DB().QueryRow("SHOW idle_in_transaction_session_timeout").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("idle_in_transaction_session_timeout = %q, want %q", got, tt.want)
			}
		})
	}
}

// A replica frozen in the middle of a transaction (SIGSTOP, a paused VM)
// holds the audit head's row lock; PostgreSQL ends its session after the
// idle timeout, and the other replicas' writes go through instead of
// waiting for it forever.
func TestStore_frozenWriterDoesNotStopTheChain(t *testing.T) {
	dsn := pgtest.DSN(t)
	frozen := openOpts(t, dsn+"&idle_in_transaction_session_timeout=1s", store.Options{})
	other := openOpts(t, dsn, store.Options{})
	ctx := context.Background()

	tx, err := frozen.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := tx.QueryRow("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE").Scan(&seq); err != nil {
		t.Fatal(err)
	}
	// The frozen replica does nothing more. The other one appends.
	actx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = other.Tx(actx, func(tx rotation.Tx) error {
		_, err := tx.AppendAudit(audit.Record{Event: "append", Actor: "other"})
		return err
	})
	if err != nil {
		t.Fatalf("append while another session sat idle on the head row: %v", err)
	}
	if err := tx.Commit(); err == nil {
		t.Error("the idle transaction committed after the timeout; want its session ended")
	}
	if err := audit.VerifyChain(ctx, other); err != nil {
		t.Error(err)
	}
}
