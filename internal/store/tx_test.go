package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// busyErr looks like modernc's SQLITE_BUSY error.
type busyErr struct{}

func (busyErr) Error() string { return "database is locked (5) (SQLITE_BUSY)" }
func (busyErr) Code() int     { return 5 }

func contention(dsn string) error {
	if strings.HasPrefix(dsn, "sqlite:") {
		return busyErr{}
	}
	return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
}

func TestStore_Tx_retry(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openT(t, dsn)
		tests := []struct {
			name      string
			failFirst int   // attempts that end in fail
			fail      error // nil: contention
			wantCalls int
			wantErr   bool
		}{
			{"succeeds at once", 0, nil, 1, false},
			{"retried after contention", 2, nil, 3, false},
			{"gives up after a bound", 100, nil, 8, true},
			{"other errors are not retried", 100, errors.New("terminal"), 1, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				fail := tt.fail
				if fail == nil {
					fail = contention(dsn)
				}
				calls := 0
				err := s.Tx(context.Background(), func(tx rotation.Tx) error {
					calls++
					if err := tx.PutCredential(rotation.CredentialRecord{Name: tt.name}); err != nil {
						return err
					}
					if calls <= tt.failFirst {
						return fail
					}
					return nil
				})
				if calls != tt.wantCalls {
					t.Errorf("fn ran %d times, want %d", calls, tt.wantCalls)
				}
				if (err != nil) != tt.wantErr {
					t.Fatalf("Tx = %v, want error %v", err, tt.wantErr)
				}
				_, err = s.Credential(context.Background(), tt.name)
				if written := err == nil; written == tt.wantErr {
					t.Errorf("credential written = %v after Tx error = %v: failed attempts must leave nothing", written, tt.wantErr)
				}
			})
		}
	})
}
