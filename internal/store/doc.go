// Package store is rotor's SQL store: credentials, sealed token versions,
// runs and their binding states, leases and the audit chain. One
// database/sql implementation serves SQLite (modernc.org/sqlite, the
// embedded default) and PostgreSQL (pgx, for several replicas); what the two
// disagree on is kept in the dialect type.
//
// Every timestamp is stored as an integer count of microseconds since the
// Unix epoch (UTC). That is exact in both databases, so an audit record
// reads back bit for bit as it was hashed, and lease expiry is a plain
// integer comparison in SQL.
//
// The store never sees a token value: a Version carries only Sealed bytes
// and a fingerprint.
package store
