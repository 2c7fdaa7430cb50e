package store

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// dialect is everything the SQL code needs to know about the database it
// talks to. Queries are written once, with ? placeholders and the ON
// CONFLICT / RETURNING syntax both databases share.
type dialect struct {
	name   string // "sqlite" or "postgres": also the migrations directory
	driver string // database/sql driver name
	dollar bool   // placeholders are $1, $2… instead of ?
	// forUpdate ends a SELECT that must lock its rows until the transaction
	// ends. SQLite needs none: every write transaction begins IMMEDIATE and
	// so holds the database's one write lock from its first statement.
	forUpdate string
	// nowMicros is the database's clock in microseconds since the epoch.
	nowMicros string
	// migrationLock serialises schema migrations across processes; empty
	// where the write transaction already does (SQLite).
	migrationLock string
	// afterImport realigns id generators after rows were inserted with
	// explicit ids (Migrate); empty where the database does it itself.
	afterImport string
	// retryable reports a failure that a fresh attempt of the whole
	// transaction may not meet again.
	retryable func(error) bool
}

var sqliteDialect = dialect{
	name:      "sqlite",
	driver:    "sqlite",
	nowMicros: "CAST(unixepoch('subsec') * 1000000 AS INTEGER)",
	retryable: func(err error) bool {
		// modernc's *sqlite.Error; matched by method so that tests can
		// fake one. The primary result code is the low byte.
		var e interface{ Code() int }
		if !errors.As(err, &e) {
			return false
		}
		switch e.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
		return false
	},
}

var postgresDialect = dialect{
	name:          "postgres",
	driver:        "pgx",
	dollar:        true,
	forUpdate:     " FOR UPDATE",
	nowMicros:     "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
	migrationLock: "SELECT pg_advisory_xact_lock(7270170001)",
	afterImport:   "SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM runs), false)",
	retryable: func(err error) bool {
		var e *pgconn.PgError
		if !errors.As(err, &e) {
			return false
		}
		switch e.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
		return false
	},
}

// q rewrites ? placeholders for the database. No query here has a ? inside
// a string literal.
func (d dialect) q(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
