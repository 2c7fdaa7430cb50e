package wiring

import (
	"context"
	"fmt"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/source"
	"github.com/rotor-ci/rotor/internal/target"
)

// CredentialOptions are the per-call parts of building a credential.
type CredentialOptions struct {
	// ReadToken supplies a person's token; nil where no token can be asked
	// for (rotor serve): a personal-token source then fails Mint with
	// rotation.ErrNoToken.
	ReadToken           TokenReader
	AllowIdentityChange bool
	// Progress reports fan-out progress of targets that have many bindings.
	Progress func(done, total, failed int)
}

// Credential builds the engine's view of a configured credential: its
// source and its targets, in config order.
func (e *Env) Credential(ctx context.Context, cc *config.Credential, opts CredentialOptions) (rotation.Credential, error) {
	src, err := source.New(cc.Source, source.Deps{Credential: cc.Name, GitHub: e.GitHub, ReadToken: opts.ReadToken, Dir: e.Config.Dir()})
	if err != nil {
		return rotation.Credential{}, fmt.Errorf("%s: source: %w", cc.Name, err)
	}
	deps := target.Deps{AWS: e.Config.AWS, Log: e.Log, Progress: opts.Progress, OtherTokens: e.otherTokens(cc.Name), Dir: e.Config.Dir()}
	var targets []rotation.Target
	for i, tc := range cc.Targets {
		t, err := target.New(ctx, tc, deps)
		if err != nil {
			return rotation.Credential{}, fmt.Errorf("%s: targets[%d] (%s): %w", cc.Name, i, tc.Type, err)
		}
		targets = append(targets, t)
	}
	return rotation.Credential{
		Name:                cc.Name,
		Application:         cc.Application,
		Source:              src,
		Targets:             targets,
		Scopes:              cc.Source.Scopes,
		MinValidity:         cc.Rotate.RenewBefore.D(),
		Grace:               cc.Rotate.Grace.D(),
		AllowIdentityChange: opts.AllowIdentityChange || cc.Source.AllowIdentityChange,
	}, nil
}
