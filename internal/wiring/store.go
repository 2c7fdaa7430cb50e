package wiring

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/scan"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

// Store is an opened store as the commands that manage the store itself
// use it (migrate-key, migrate-store, scan): the engine's interface, the
// readers' and Close. Its String names it without a password.
type Store interface {
	rotation.Store
	status.Reader
	io.Closer
	fmt.Stringer
	// VersionByFingerprint finds the version whose token has fingerprint
	// fp (rotor scan); rotation.ErrNotFound when none has.
	VersionByFingerprint(ctx context.Context, fp string) (rotation.Version, error)
	// ListGrants and Revocations hold the other sealed tokens: App user
	// grants and the revocation queue (migrate-key reseals them too).
	ListGrants(ctx context.Context) ([]grant.Grant, error)
	Revocations(ctx context.Context, limit int, states ...revoke.ItemState) ([]revoke.Item, error)
}

// ResealTx is the write only migrate-key makes (versions, grants, queued
// revocations): assert the Tx a Store passes to its Tx function to it.
type ResealTx = store.ResealTx

// OpenStore opens (and, for SQLite, creates) the store dsn names: sqlite:
// PATH or a postgres:// URL.
func OpenStore(ctx context.Context, dsn string) (Store, error) {
	return store.Open(ctx, dsn, store.Options{})
}

// MigrateStore copies every record of the store at from into the empty
// store at to (rotor migrate-store) and returns both, still open.
func MigrateStore(ctx context.Context, from, to string) (src, dst Store, err error) {
	f, err := store.Open(ctx, from, store.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("--from: %w", err)
	}
	t, err := store.Open(ctx, to, store.Options{})
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("--to: %w", err)
	}
	if err := store.Migrate(ctx, f, t); err != nil {
		f.Close()
		t.Close()
		return nil, nil, err
	}
	return f, t, nil
}

// LiveCheck asks GitHub at apiURL who a token is, for rotor scan --live:
// accepted means it works, Bad credentials means it does not; anything else
// is an error for the finding (the github package's errors name the
// fingerprint, never the value).
func LiveCheck(apiURL string) func(ctx context.Context, tok token.Token) (bool, error) {
	gh, err := github.New(apiURL)
	return func(ctx context.Context, tok token.Token) (bool, error) {
		if err != nil {
			return false, err
		}
		return accepts(ctx, gh, tok)
	}
}

// accepts reports whether GitHub still accepts tok: Bad credentials is a
// no, anything else an error (the github package's errors name the
// fingerprint, never the value).
func accepts(ctx context.Context, gh *github.Client, tok token.Token) (bool, error) {
	_, err := gh.Identify(ctx, tok)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, github.ErrBadCredentials):
		return false, nil
	}
	return false, err
}

// GitHubSecrets is the GitHub client rotor scan --github lists secrets with.
func GitHubSecrets(apiURL string) (scan.SecretsAPI, error) { return github.New(apiURL) }
