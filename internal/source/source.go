// Package source builds a credential's token source from its config: an
// explicit switch over the source types (no registry), so that an unknown
// type is a clear error and every implementation is visible here.
package source

import (
	"context"
	"fmt"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/rotation"
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
		// The engine compares identities across versions itself.
		return personal.New(personal.Config{Credential: d.Credential, Scopes: cfg.Scopes}, d.GitHub, read), nil
	case githubapp.Type:
		return githubapp.New(githubapp.Config{
			AppID:          cfg.AppID,
			ClientID:       cfg.ClientID,
			InstallationID: cfg.InstallationID,
			PrivateKeyFile: cfg.PrivateKeyFile,
			Repositories:   cfg.Repositories,
			Permissions:    cfg.Permissions,
		}, d.GitHub)
	}
	return nil, fmt.Errorf("unknown source type %q (want %s or %s)", cfg.Type, personal.Type, githubapp.Type)
}
