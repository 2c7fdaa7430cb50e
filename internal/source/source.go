// Package source builds a credential's token source from its config: an
// explicit switch over the source types (no registry), so that an unknown
// type is a clear error and every implementation is visible here.
package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/source/appuser"
	"github.com/rotor-ci/rotor/internal/source/githubapp"
	"github.com/rotor-ci/rotor/internal/source/personal"
	"github.com/rotor-ci/rotor/internal/token"
)

// Deps is what sources need from the process.
type Deps struct {
	Credential string
	GitHub     *github.Client
	// ReadToken supplies a person's token; nil means nobody can be asked.
	ReadToken func(context.Context) (token.Token, error)
	// Dir resolves relative paths (the config file's directory).
	Dir string
	// Grants keeps github-app-user grants; Sealer seals what it keeps.
	Grants grant.Grants
	Sealer rotation.Sealer
	// Revoke, if set, revokes personal and user tokens through the shared
	// revocation queue (package revoke); nil: one direct call each.
	Revoke func(ctx context.Context, credential string, tok token.Token) error
	// OrgRevoke, if set, also ends a personal-token credential's old
	// fine-grained tokens' access to an organisation through its API
	// (revoke.Org, from the source's org_revoke).
	OrgRevoke func(ctx context.Context, credential string, tok token.Token) error
}

// revoker is d.Revoke for d's credential, or nil.
func (d Deps) revoker() func(context.Context, token.Token) error {
	if d.Revoke == nil {
		return nil
	}
	return func(ctx context.Context, t token.Token) error { return d.Revoke(ctx, d.Credential, t) }
}

// New builds the source cfg describes.
func New(cfg config.Source, d Deps) (rotation.Source, error) {
	switch cfg.Type {
	case personal.Type:
		read := d.ReadToken
		if read == nil {
			read = func(context.Context) (token.Token, error) {
				return token.Token{}, fmt.Errorf("%w: a personal token must be given by a person: run 'rotor rotate %s'", rotation.ErrNoToken, d.Credential)
			}
		}
		var org func(context.Context, token.Token) error
		if d.OrgRevoke != nil {
			org = func(ctx context.Context, t token.Token) error { return d.OrgRevoke(ctx, d.Credential, t) }
		}
		// The engine compares identities across versions itself.
		return personal.New(personal.Config{Credential: d.Credential, Scopes: cfg.Scopes, Revoke: d.revoker(), OrgRevoke: org}, d.GitHub, read), nil
	case appuser.Type:
		if d.Grants == nil || d.Sealer == nil {
			return nil, errors.New("github-app-user: no store to keep its refresh token in")
		}
		revoke := d.Revoke
		if revoke == nil {
			revoke = func(ctx context.Context, _ string, t token.Token) error {
				return d.GitHub.RevokeCredentials(ctx, []token.Token{t})
			}
		}
		return appuser.New(appuser.Config{Credential: d.Credential, ClientID: cfg.ClientID, ClientSecretFile: cfg.ClientSecretFile},
			d.GitHub, d.Grants, d.Sealer, revoke)
	case githubapp.Type:
		app, err := githubapp.New(githubapp.Config{
			AppID:          cfg.AppID,
			ClientID:       cfg.ClientID,
			InstallationID: cfg.InstallationID,
			PrivateKeyFile: cfg.PrivateKeyFile,
			Repositories:   cfg.Repositories,
			Permissions:    cfg.Permissions,
		}, d.GitHub)
		if err != nil {
			return nil, err
		}
		return byKind{Source: app, own: token.KindInstallation,
			other: personal.New(personal.Config{Credential: d.Credential, Revoke: d.revoker()}, d.GitHub, nil)}, nil
	}
	return nil, fmt.Errorf("unknown source type %q (want %s, %s or %s)", cfg.Type, personal.Type, githubapp.Type, appuser.Type)
}

// byKind checks and revokes each token the way its kind needs, and mints
// with the credential's own source. A credential moving from a personal
// token to a GitHub App adopts the personal token as its first version; that
// version must be checked, and later revoked, as a personal token.
type byKind struct {
	rotation.Source
	own   token.Kind
	other rotation.Source
}

func (b byKind) pick(t token.Token) rotation.Source {
	if token.KindOf(t.Reveal()) == b.own {
		return b.Source
	}
	return b.other
}

func (b byKind) Check(ctx context.Context, t token.Token, req rotation.Requirements) (rotation.Identity, error) {
	return b.pick(t).Check(ctx, t, req)
}

func (b byKind) Revoke(ctx context.Context, t token.Token) error { return b.pick(t).Revoke(ctx, t) }
