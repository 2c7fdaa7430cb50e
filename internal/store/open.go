package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// Options tune a store. The zero value is what production uses.
type Options struct {
	// Clock, when set, replaces time.Now for the timestamps the store fills
	// in and for judging lease expiry. Tests pass a fake clock.
	//
	// When nil, lease expiry is judged by the database's own clock, not the
	// process's: replicas sharing a PostgreSQL store then agree on when a
	// lease ends however far apart their clocks drift. (For SQLite, every
	// process is on the machine that holds the file, so the two are the
	// same clock.)
	Clock func() time.Time
}

// Store is the SQL store. Safe for concurrent use, also by several
// processes sharing one database.
type Store struct {
	db    *sql.DB
	d     dialect
	name  string // the DSN with any password removed, for errors
	clock func() time.Time
}

var _ rotation.Store = (*Store)(nil)

// Open opens (creating if need be) and migrates the store named by dsn:
//
//	sqlite:PATH               a SQLite file (created if missing; its directory must exist)
//	sqlite::memory:           a private in-memory SQLite database, for tests
//	postgres://… postgresql://…  a PostgreSQL database (pgx connection URL)
//
// A relative SQLite path is relative to the working directory; callers
// resolve it against the config file's directory first. sqlite::memory:
// has a single connection, so a Store method called from inside Tx's fn
// would wait forever (Tx's fn must not do that with any backend).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	var s *Store
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err = openPostgres(dsn)
	default:
		shown := redact(dsn)
		if shown == dsn {
			shown = strconv.Quote(dsn)
		}
		return nil, fmt.Errorf("store %s: unknown kind; want sqlite:PATH, postgres://… or postgresql://…", shown)
	}
	if err != nil {
		return nil, err
	}
	s.clock = opts.Clock
	// The first connection to a new SQLite file switches it to WAL, which
	// needs the file to itself and answers SQLITE_BUSY at once, without
	// waiting for busy_timeout, while another process does the same: retry.
	if err := s.retry(ctx, func() error { return s.db.PingContext(ctx) }); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", s.name, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", s.name, err)
	}
	return s, nil
}

func openSQLite(path string) (*Store, error) {
	name := "sqlite:" + path
	if path == "" {
		return nil, fmt.Errorf("store %q: want sqlite:PATH", name)
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("store %s: the path must not contain '?'", name)
	}
	memory := path == ":memory:"
	if !memory {
		dir := filepath.Dir(path)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open store %s: directory %s does not exist", name, dir)
		}
		// Sealed tokens and the audit trail are nobody else's business:
		// create the file 0600 (SQLite gives its -wal and -shm files the
		// database file's mode).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			f.Close()
		case !errors.Is(err, fs.ErrExist):
			return nil, fmt.Errorf("open store %s: %w", name, err)
		}
	}
	// Every write transaction begins IMMEDIATE: it takes the write lock at
	// once, so two writers queue under busy_timeout instead of one failing
	// when it tries to upgrade a read lock. That is what keeps one audit
	// chain with several writers, in one process or many.
	params := url.Values{}
	params.Set("_txlock", "immediate")
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "foreign_keys(1)")
	if !memory {
		params.Add("_pragma", "journal_mode(WAL)")
		params.Add("_pragma", "synchronous(NORMAL)")
	}
	db, err := sql.Open(sqliteDialect.driver, path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	if memory {
		// Each connection to :memory: is its own database: keep one.
		db.SetMaxOpenConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	}
	return &Store{db: db, d: sqliteDialect, name: name}, nil
}

// IdleInTransactionTimeout is the default idle_in_transaction_session_timeout
// of rotor's PostgreSQL sessions. rotor's transactions last milliseconds; a
// session idle inside one belongs to a replica that froze (SIGSTOP, a paused
// VM) or vanished without a TCP reset, and it may hold the audit chain's
// head row, on which every replica's next write waits. PostgreSQL ends such
// a session after this long and the others carry on. A DSN that sets the
// parameter itself keeps its value.
const IdleInTransactionTimeout = "10s"

func openPostgres(dsn string) (*Store, error) {
	name := redact(dsn)
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("store %s: not a URL", name)
	}
	// pgx sends query parameters it does not know as run-time parameters
	// in the startup message.
	if q := u.Query(); !q.Has("idle_in_transaction_session_timeout") {
		q.Set("idle_in_transaction_session_timeout", IdleInTransactionTimeout)
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	db, err := sql.Open(postgresDialect.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{db: db, d: postgresDialect, name: name}, nil
}

// redact removes passwords from a DSN shown in errors: the user-info
// password and a password query parameter of a URL. A DSN that is not a
// URL but may hold one (key=value form) is not shown at all.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err == nil && u.Scheme != "" && u.Opaque == "" {
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	if strings.Contains(dsn, "@") || strings.Contains(strings.ToLower(dsn), "password") {
		return "(DSN not shown: it may hold a password)"
	}
	return dsn
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// String names the store without its password.
func (s *Store) String() string { return s.name }

// DB is the underlying database, for tests and tooling that must reach
// below the Store interface (the contract suite tampers with the audit
// table through it).
func (s *Store) DB() *sql.DB { return s.db }

// now is the store's clock for timestamps it fills in.
func (s *Store) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}
