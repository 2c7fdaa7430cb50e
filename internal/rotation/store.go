package rotation

import (
	"context"
	"errors"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/token"
)

// VersionState is where a token version is in its life.
type VersionState string

const (
	VersionPending  VersionState = "pending"  // minted, not yet promoted
	VersionCurrent  VersionState = "current"  // what every binding holds
	VersionPrevious VersionState = "previous" // replaced; revoked after the grace period
	VersionRetired  VersionState = "retired"  // revoked (or handed to a person to delete)
	VersionRejected VersionState = "rejected" // a person's token that failed check; left alone
)

// Version is one concrete token of a credential. The value is kept only
// sealed; the fingerprint identifies it everywhere else.
type Version struct {
	Credential  string       `json:"credential"`
	Seq         int64        `json:"seq"` // 1, 2, 3… per credential
	Fingerprint string       `json:"fingerprint"`
	Kind        token.Kind   `json:"kind"`
	Sealed      []byte       `json:"-"`
	State       VersionState `json:"state"`
	ByRotor     bool         `json:"by_rotor"`
	Identity    string       `json:"identity,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	ExpiresAt   time.Time    `json:"expires_at,omitzero"`
	RetireAfter time.Time    `json:"retire_after,omitzero"` // previous: grace ends
	RetiredAt   time.Time    `json:"retired_at,omitzero"`
	Note        string       `json:"note,omitempty"` // e.g. manual revocation instructions
}

// Step is the last protocol step a run completed.
type Step string

const (
	StepStarted    Step = "started"
	StepDiscovered Step = "discovered" // bindings found (read-only)
	StepMinted     Step = "minted"
	StepChecked    Step = "checked"
	StepApplied    Step = "applied"
	StepVerified   Step = "verified"
	StepPromoted   Step = "promoted"
	StepRolledBack Step = "rolled_back" // bindings are back on the previous version
)

// RunStatus is a run's outcome.
type RunStatus string

const (
	RunRunning    RunStatus = "running"
	RunSucceeded  RunStatus = "succeeded"
	RunFailed     RunStatus = "failed"      // nothing reached a binding
	RunRolledBack RunStatus = "rolled_back" // bindings were returned to the previous version
)

// Run is one rotation of one credential, persisted step by step.
type Run struct {
	ID         int64     `json:"id"`
	Credential string    `json:"credential"`
	Trigger    string    `json:"trigger"` // manual, schedule, api, resume
	Step       Step      `json:"step"`
	Status     RunStatus `json:"status"`
	NewSeq     int64     `json:"new_seq,omitempty"`
	PrevSeq    int64     `json:"prev_seq,omitempty"`
	Reason     string    `json:"reason,omitempty"` // CamelCase, for machines: CheckFailed, ApplyFailed…
	Error      string    `json:"error,omitempty"`  // for people; sanitised
	// Failing is set when a failure after apply began was recorded but the
	// rollback has not finished: resume rolls back instead of going forward.
	Failing    bool      `json:"failing,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// BindingStatus is one binding's state within a run.
type BindingStatus string

const (
	BindingPending    BindingStatus = "pending"     // found, untouched
	BindingApplying   BindingStatus = "applying"    // new version sent; may hold either version
	BindingApplied    BindingStatus = "applied"     // holds the new version
	BindingVerified   BindingStatus = "verified"    // proven to work with the new version
	BindingFailed     BindingStatus = "failed"      // apply or verify failed; may hold either version
	BindingRefused    BindingStatus = "refused"     // the write was refused; holds what it held before
	BindingRolledBack BindingStatus = "rolled_back" // holds the previous version again
	// BindingWaiting holds the previous version because its place was
	// busy (a pipeline running a deployment, which an update would stop).
	// It is a straggler: it moves to the run's version as soon as the place
	// is idle, and the previous version is not retired until it has.
	BindingWaiting BindingStatus = "waiting"
)

// BindingState is a binding's state within a run.
type BindingState struct {
	Binding   Binding       `json:"binding"`
	Status    BindingStatus `json:"status"`
	Error     string        `json:"error,omitempty"`
	UpdatedAt time.Time     `json:"updated_at"`
	// Note says why a waiting binding waits.
	Note string `json:"note,omitempty"`
	// Interrupted names what the binding's write stopped (executions in
	// progress), when its target's policy allowed that.
	Interrupted []string `json:"interrupted,omitempty"`
}

// CredentialRecord is what the store knows of a configured credential.
type CredentialRecord struct {
	Name        string    `json:"name"`
	Application string    `json:"application,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Store is what the engine remembers and reads back: credentials,
// versions, runs, binding states, leases and the audit chain. It is the
// engine's own view, and holds only what the engine calls; status, the
// server and the CLI read through status.Reader instead, and never write.
// Every write of the engine goes through Tx fenced by the run's lease
// (Engine.tx, lease.go). Implementations are safe for concurrent use, also
// across processes sharing one database.
type Store interface {
	// Tx runs fn in one transaction: all of its writes happen or none do.
	// fn may be called again if the transaction must be retried.
	Tx(ctx context.Context, fn func(Tx) error) error

	// Credentials lists every credential ever recorded.
	Credentials(ctx context.Context) ([]CredentialRecord, error)
	// Versions of one credential, newest (highest Seq) first.
	Versions(ctx context.Context, credential string) ([]Version, error)
	// Runs of one credential, newest first, at most limit (0: all).
	Runs(ctx context.Context, credential string, limit int) ([]Run, error)
	// OpenRun is the credential's run still running; ErrNotFound if none.
	OpenRun(ctx context.Context, credential string) (Run, error)
	// Bindings of a run, in the order they were first put.
	Bindings(ctx context.Context, runID int64) ([]BindingState, error)

	// AcquireLease takes or renews the credential's lease for holder until
	// now+ttl. It fails with ErrLeaseHeld while another holder's lease is
	// unexpired. Renewing one's own lease is allowed.
	AcquireLease(ctx context.Context, credential, holder string, ttl time.Duration) error
	// ReleaseLease ends holder's lease; releasing a lease one does not hold
	// is not an error.
	ReleaseLease(ctx context.Context, credential, holder string) error
}

// Tx is the write side of a Store, valid only inside Store.Tx.
type Tx interface {
	// PutCredential creates or updates a credential record.
	PutCredential(c CredentialRecord) error
	// AddVersion inserts v with the next Seq of its credential and returns it.
	AddVersion(v Version) (Version, error)
	// UpdateVersion writes State, Identity, ExpiresAt, RetireAfter,
	// RetiredAt and Note of an existing version (found by Credential and
	// Seq); ErrNotFound if it does not exist.
	UpdateVersion(v Version) error
	// CreateRun inserts r and returns it with its ID.
	CreateRun(r Run) (Run, error)
	// UpdateRun writes every mutable field of an existing run.
	UpdateRun(r Run) error
	// PutBindings upserts binding states of a run by binding ID.
	PutBindings(runID int64, states []BindingState) error
	// AppendAudit seals r after the current head and stores it.
	AppendAudit(r audit.Record) (audit.Record, error)
}

// Sealer keeps token material encrypted at rest. Safe for concurrent use.
type Sealer interface {
	// Seal encrypts tok, the version sc names.
	Seal(ctx context.Context, sc SealContext, tok token.Token) ([]byte, error)
	// Open decrypts what Seal made for the same sc. It fails for bytes
	// sealed for another credential or version, with a key it does not
	// hold, or altered.
	Open(ctx context.Context, sc SealContext, sealed []byte) (token.Token, error)
}

// SealContext names the version a sealed token belongs to, so that a
// sealer can bind the two: sealed bytes copied to another credential's or
// version's row do not open. The version is named by its fingerprint, which
// is known before the store assigns the version's Seq.
type SealContext struct {
	Credential  string
	Fingerprint string
}

// SealContext is the context v's token was sealed with.
func (v Version) SealContext() SealContext {
	return SealContext{Credential: v.Credential, Fingerprint: v.Fingerprint}
}

var (
	ErrNotFound  = errors.New("not found")
	ErrLeaseHeld = errors.New("another rotor process holds this credential's lease")
)
