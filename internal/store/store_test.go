package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/store/pgtest"
	"github.com/rotor-ci/rotor/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openT(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite_contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return openT(t, "sqlite:"+filepath.Join(t.TempDir(), "rotor.db"))
	})
}

func TestSQLiteMemory_contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return openT(t, "sqlite::memory:") })
}

func TestPostgres_contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return openT(t, pgtest.DSN(t)) })
}
