// Package grant is what rotor keeps of a GitHub App user authorization (the
// single-use refresh token and the state of its use), shared by the
// github-app-user source that uses it, the store that persists it and the
// status that reports it, so that none of them imports another.
package grant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// GrantState is where a credential's refresh grant is.
type GrantState string

const (
	// GrantReady: the stored refresh token is the newest GitHub issued.
	GrantReady GrantState = "ready"
	// GrantRefreshing: a refresh with the stored token was (or was about
	// to be) sent and its answer is not recorded. Until a refresh answers,
	// rotor cannot know whether GitHub used the token; the next Mint asks
	// GitHub by trying it again, which GitHub refuses (and nothing else)
	// when it was used.
	GrantRefreshing GrantState = "refreshing"
	// GrantLost: GitHub refuses the stored refresh token; only a person can
	// authorize rotor again (rotor authorize NAME). Note says why.
	GrantLost GrantState = "lost"
)

// Grant is what rotor keeps of a credential's GitHub App user
// authorization: the one refresh token (ghr_) that mints the next user
// token, sealed, and the state of its use. A refresh token is single use:
// the answer to a refresh holds the only copy of the next one.
type Grant struct {
	Credential  string
	Fingerprint string // the refresh token's
	Sealed      []byte // sealed for (Credential, Fingerprint)
	ExpiresAt   time.Time
	// PairFingerprint is the user token (ghu_) GitHub issued with this
	// refresh token. Revoking that token would end the refresh token too,
	// so rotor never revokes it while the grant holds its pair.
	PairFingerprint string
	// Stash is an unused user token (sealed for (Credential,
	// PairFingerprint)) that rotor authorize obtained with the refresh
	// token; the next Mint hands it over instead of refreshing.
	Stash          []byte
	StashExpiresAt time.Time
	State          GrantState
	Note           string // GrantLost: what happened and what to do
	UpdatedAt      time.Time
}

// Grants persists each credential's grant. Each call is one transaction;
// implementations are safe for concurrent use, also across processes.
type Grants interface {
	// Grant returns the credential's grant; rotation.ErrNotFound if rotor
	// was never authorized for it.
	Grant(ctx context.Context, credential string) (Grant, error)
	// ReplaceGrant stores g as the credential's grant. With ifFingerprint
	// set, only while the stored grant's refresh token is still that one
	// (ErrGrantChanged otherwise); with "", unconditionally (authorize).
	ReplaceGrant(ctx context.Context, g Grant, ifFingerprint string) error
	// SetGrantState changes the state and note of the grant whose refresh
	// token is fingerprint; ErrGrantChanged if the grant holds another.
	SetGrantState(ctx context.Context, credential, fingerprint string, state GrantState, note string) error
	// TakeStash removes and returns the grant's stashed user token if it is
	// still the one with pairFingerprint; nil if it was taken already.
	TakeStash(ctx context.Context, credential, pairFingerprint string) ([]byte, error)
}

// ErrGrantChanged: another process replaced the grant meanwhile.
var ErrGrantChanged = errors.New("the credential's grant changed meanwhile")

// AuthorizeHint is the command that gives rotor a new grant.
func AuthorizeHint(credential string) string {
	return fmt.Sprintf("run 'rotor authorize %s' and approve rotor in the browser with the GitHub account whose token the targets should hold", credential)
}

// Prompt is what a person must do to authorize rotor: open URL, enter Code.
type Prompt struct {
	Code      string
	URL       string
	ExpiresIn string // "15m0s"
}

// Authorized is the outcome of Authorize.
type Authorized struct {
	Login       string // the GitHub user who approved
	Fingerprint string // of the new user token
	// Previous is the refresh token of the grant this one replaced, if
	// rotor still held a usable one: revoke it once the new token is in
	// place (revoking it ends its user token, which targets may hold).
	Previous token.Token
	// PreviousPair is the fingerprint of the user token paired with
	// Previous. When that token is a version rotor holds, its retirement
	// after the grace period revokes it, and with it Previous: revoking
	// Previous sooner would end it under the targets still using it.
	PreviousPair string
}

// ErrGrantReady: rotor holds a working grant; replacing it needs force.
var ErrGrantReady = errors.New("rotor already holds a working authorization for this credential")

// Authorizer runs the device flow for a credential (the github-app-user
// source is one): show tells the person where to enter the code.
type Authorizer interface {
	Authorize(ctx context.Context, force bool, show func(Prompt)) (Authorized, error)
	Revoke(ctx context.Context, t token.Token) error
}
