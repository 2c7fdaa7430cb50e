package revoke

import (
	"context"
	"time"
)

// ItemState is where one queued revocation is.
type ItemState string

const (
	ItemQueued    ItemState = "queued"    // waiting for a call to GitHub
	ItemSent      ItemState = "sent"      // GitHub accepted the revocation; not yet confirmed
	ItemConfirmed ItemState = "confirmed" // GitHub refuses the token now
	ItemAlive     ItemState = "alive"     // still accepted after its revocation: alerted
)

// Item is one token waiting to be revoked through the credential
// revocation API, sealed as its credential's version is (the same seal
// context: credential and fingerprint).
type Item struct {
	ID          int64
	Credential  string
	Fingerprint string
	Sealed      []byte // nil once confirmed: a dead token need not be kept
	State       ItemState
	EnqueuedAt  time.Time
	SentAt      time.Time
	ConfirmedAt time.Time
	Error       string
}

// Store keeps the queue and the shared hourly budget of revocation calls.
// Implementations are safe for concurrent use across processes.
type Store interface {
	// EnqueueRevocation adds it as queued; a fingerprint already in the
	// queue (in any state) is left as it is. Idempotent.
	EnqueueRevocation(ctx context.Context, it Item) error
	// Revocations lists items in these states (all when none), oldest
	// first, at most limit (0: all).
	Revocations(ctx context.Context, limit int, states ...ItemState) ([]Item, error)
	// UpdateRevocation writes State, SentAt, ConfirmedAt, Error of the item
	// with it.ID, and clears Sealed when it is ItemConfirmed.
	UpdateRevocation(ctx context.Context, it Item) error
	// TakeRevokeCall records one call to the revocation API at now if fewer
	// than limit were recorded in the hour before now, and reports whether
	// it did; when not, it returns when the oldest of them leaves the hour.
	// Every replica sharing the store shares the budget.
	TakeRevokeCall(ctx context.Context, now time.Time, limit int) (ok bool, next time.Time, err error)
}
