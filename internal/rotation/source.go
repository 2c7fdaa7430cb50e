package rotation

import (
	"context"
	"errors"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Requirements is what every binding of a credential needs from a token.
type Requirements struct {
	Scopes       []string      // classic scopes, e.g. repo, admin:repo_hook
	Repositories []string      // "owner/repo" every binding reads
	MinValidity  time.Duration // the token must not expire sooner than this
	MaxLifetime  time.Duration // nor later than this from now (0: no limit)
}

// Minted is a new token fresh from a source.
type Minted struct {
	Token     token.Token
	ExpiresAt time.Time // zero: does not expire
	// ByRotor is true when rotor created the token itself (a GitHub App
	// installation token) and may revoke it at will; false when a person
	// created it and handed it over.
	ByRotor bool
}

// Identity is what GitHub says a token is.
type Identity struct {
	Login     string    // user login, or "app/<slug>/installation/<id>"
	Scopes    []string  // classic scopes; nil when the token kind has none
	ExpiresAt time.Time // zero: no expiry known
}

// Source obtains new token versions and retires old ones.
// Implementations are safe for concurrent use by different credentials.
type Source interface {
	// Type is the config name of the source ("personal-token", "github-app").
	Type() string
	// Mint obtains a new token. Not idempotent: for an app, every call
	// creates a live token, which the engine seals and records at once.
	// So a source whose request creates the token lets that request run
	// to its answer even when ctx ends (Detached): GitHub creates the
	// token whether or not rotor still listens, and an answer dropped
	// with a cancelled request leaves a live token held by nobody (I3),
	// where an answer received is recorded, or revoked when it cannot be.
	// A source that waits for a person (a prompt) stops when ctx ends.
	Mint(ctx context.Context, req Requirements) (Minted, error)
	// Check proves tok fit for req before any target is touched: format,
	// identity, scopes, expiry and access to every repository. A refusal
	// wraps ErrRejected and says what to do.
	Check(ctx context.Context, tok token.Token, req Requirements) (Identity, error)
	// Revoke makes tok unusable. Idempotent: an unknown or already dead
	// token is not an error. When rotor cannot revoke it (a personal token
	// GitHub will not revoke through the API), Revoke returns an error
	// wrapping ErrManualRevocation whose text tells the person what to delete.
	Revoke(ctx context.Context, tok token.Token) error
}

var (
	// ErrRejected marks a token that failed Check: terminal, not retried.
	ErrRejected = errors.New("token rejected")
	// ErrManualRevocation marks a token only a person can revoke.
	ErrManualRevocation = errors.New("revoke by hand")
	// ErrPersonNeeded: the source cannot mint until a person acts (a
	// GitHub App user authorization whose refresh token GitHub refuses);
	// the error's text says exactly what to do.
	ErrPersonNeeded = errors.New("a person is needed")
	// ErrNoToken is returned by Mint when a person gave no token.
	ErrNoToken = errors.New("no token given")
)

// detachedTimeout bounds a request that outlives its run's context.
const detachedTimeout = 2 * time.Minute

// Detached is the context for a request that creates a token (see
// Source.Mint): ctx's values (the lease, which is still checked before
// anything is sent), not its cancellation, and a deadline of its own.
func Detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
}
