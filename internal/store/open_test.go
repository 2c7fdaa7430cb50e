package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/store"
)

func TestOpen_errors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		dsn     string
		want    []string
		notWant string
	}{
		{"unknown scheme", "mysql://rotor:hunter2@db.example/rotor", []string{"mysql://rotor:xxxxx@db.example/rotor", "sqlite:PATH", "postgres://"}, "hunter2"},
		{"key=value DSN", "host=db user=rotor password=hunter2", []string{"postgres://"}, "hunter2"},
		{"password parameter", "postgres://127.0.0.1:1/rotor?password=hunter2&connect_timeout=5", []string{"127.0.0.1:1"}, "hunter2"},
		{"bare path", "rotor.db", []string{`"rotor.db"`, "sqlite:PATH"}, ""},
		{"empty sqlite path", "sqlite:", []string{"sqlite:PATH"}, ""},
		{"missing directory", "sqlite:" + filepath.Join(dir, "nope", "rotor.db"), []string{filepath.Join(dir, "nope", "rotor.db"), "does not exist"}, ""},
		{"path is a directory", "sqlite:" + dir, []string{dir}, ""},
		{"postgres unreachable", "postgres://rotor:hunter2@127.0.0.1:1/rotor?connect_timeout=5", []string{"127.0.0.1:1"}, "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.dsn, store.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error %q reveals %q", err, tt.notWant)
			}
		})
	}
}

// Several processes starting on a new database at once: one migrates, the
// others find the schema in place.
func TestOpen_concurrentMigrations(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		const n = 6
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				s, err := store.Open(context.Background(), dsn, store.Options{})
				if err != nil {
					errs <- err
					return
				}
				s.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		s := openOpts(t, dsn, store.Options{})
		var rows, maxV int
		if err := s.DB().QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&rows, &maxV); err != nil {
			t.Fatal(err)
		}
		if rows != maxV || rows < 1 {
			t.Errorf("schema_migrations holds %d rows up to version %d: each migration must be recorded once", rows, maxV)
		}
	})
}

func TestOpen_newerSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := openOpts(t, dsn, store.Options{})
		if _, err := s.DB().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := store.Open(context.Background(), dsn, store.Options{})
		if err == nil || !strings.Contains(err.Error(), "upgrade rotor") || !strings.Contains(err.Error(), "999") {
			t.Fatalf("Open of a newer schema = %v, want an error asking to upgrade rotor", err)
		}
	})
}

func TestOpen_sqliteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rotor.db")
	openOpts(t, "sqlite:"+path, store.Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("store file mode %04o: group and others can read sealed tokens and the audit trail", fi.Mode().Perm())
	}
}

func ExampleOpen() {
	s, err := store.Open(context.Background(), "sqlite::memory:", store.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(s)
	// Output: sqlite::memory:
}
