-- A GitHub App user authorization: the single-use refresh token (sealed)
-- that mints the credential's next user token, and the state of its use
-- (ready, refreshing: sent and its answer not recorded, lost: a person must
-- authorize again). stash: an unused user token from rotor authorize.
CREATE TABLE user_grants (
    credential        TEXT PRIMARY KEY,
    fingerprint       TEXT NOT NULL,
    sealed            BLOB NOT NULL,
    expires_at        INTEGER,
    pair_fingerprint  TEXT NOT NULL DEFAULT '',
    stash             BLOB,
    stash_expires_at  INTEGER,
    state             TEXT NOT NULL,
    note              TEXT NOT NULL DEFAULT '',
    updated_at        INTEGER NOT NULL
);

-- Tokens waiting for, or done with, the credential revocation API, which
-- allows few calls an hour: queued here so that every run and every replica
-- shares one queue. sealed is cleared once GitHub refuses the token.
CREATE TABLE revocations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    credential   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL UNIQUE,
    sealed       BLOB,
    state        TEXT NOT NULL,
    enqueued_at  INTEGER NOT NULL,
    sent_at      INTEGER,
    confirmed_at INTEGER,
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX revocations_state ON revocations (state, id);

-- Calls made to the revocation API, for its hourly budget.
CREATE TABLE revoke_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL
);
CREATE INDEX revoke_calls_at ON revoke_calls (at);
