-- Every *_at and time column holds microseconds since 1970-01-01 UTC.

CREATE TABLE credentials (
    name        TEXT PRIMARY KEY,
    application TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE versions (
    credential   TEXT NOT NULL REFERENCES credentials (name),
    seq          INTEGER NOT NULL,
    fingerprint  TEXT NOT NULL,
    kind         TEXT NOT NULL DEFAULT '',
    sealed       BLOB,
    state        TEXT NOT NULL,
    by_rotor     BOOLEAN NOT NULL DEFAULT FALSE,
    identity     TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    retire_after INTEGER,
    retired_at   INTEGER,
    note         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (credential, seq)
);
CREATE INDEX versions_fingerprint ON versions (fingerprint);

-- AUTOINCREMENT: a run id is never reused, since audit records name it.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    credential   TEXT NOT NULL REFERENCES credentials (name),
    triggered_by TEXT NOT NULL DEFAULT '',
    step         TEXT NOT NULL,
    status       TEXT NOT NULL,
    new_seq      INTEGER NOT NULL DEFAULT 0,
    prev_seq     INTEGER NOT NULL DEFAULT 0,
    reason       TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    failing      BOOLEAN NOT NULL DEFAULT FALSE,
    started_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX runs_credential ON runs (credential, id);

-- id keeps the order in which bindings were first put; an upsert keeps it.
CREATE TABLE run_bindings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    binding_id TEXT NOT NULL,
    binding    TEXT NOT NULL,
    status     TEXT NOT NULL,
    error      TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    UNIQUE (run_id, binding_id)
);

CREATE TABLE leases (
    credential TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    credential TEXT NOT NULL DEFAULT '',
    run_id     INTEGER NOT NULL DEFAULT 0,
    event      TEXT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

-- The chain's newest record, written in the same transaction as each
-- append, so that removing records from the end is detected.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
