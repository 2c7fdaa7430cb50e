package wiring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/source"
	"github.com/rotor-ci/rotor/internal/source/personal"
	"github.com/rotor-ci/rotor/internal/target"
	"github.com/rotor-ci/rotor/internal/token"
)

// CredentialOptions are the per-call parts of building a credential.
type CredentialOptions struct {
	// ReadToken supplies a person's token; nil where no token can be asked
	// for (rotor serve): a personal-token source then fails Mint with
	// rotation.ErrNoToken.
	ReadToken           TokenReader
	AllowIdentityChange bool
	// Progress reports fan-out progress of targets that have many bindings,
	// per account and region for a target that spans several.
	Progress func(rotation.Progress)
}

// Credential builds the engine's view of a configured credential: its
// source and its targets, in config order.
func (e *Env) Credential(ctx context.Context, cc *config.Credential, opts CredentialOptions) (rotation.Credential, error) {
	deps := source.Deps{Credential: cc.Name, GitHub: e.GitHub, ReadToken: opts.ReadToken, Dir: e.Config.Dir(), Sealer: e.Sealer}
	if g, ok := e.Store.(grant.Grants); ok {
		deps.Grants = g
	}
	if q := e.Revocations(); q != nil {
		deps.Revoke = q.Revoke
	}
	if o := cc.Source.OrgRevoke; o.Configured() && cc.Source.Type == config.SourcePersonalToken {
		org, err := e.orgRevoker(o)
		if err != nil {
			return rotation.Credential{}, fmt.Errorf("%s: source.org_revoke: %w", cc.Name, err)
		}
		deps.OrgRevoke = org.Revoke
	}
	src, err := source.New(cc.Source, deps)
	if err != nil {
		return rotation.Credential{}, fmt.Errorf("%s: source: %w", cc.Name, err)
	}
	tdeps := target.Deps{
		AWS: func(t config.Target) awsx.Config { return e.opts.aws(target.AWSConfig(e.Config.AWS, t)) },
		Log: e.Log, Progress: opts.Progress, Known: e.known(cc.Name), Dir: e.Config.Dir(),
		CloudFormation: e.opts.cloudFormationClient, GitHub: e.GitHub, Inventory: e.store,
		AWSCalls: e.opts.awsCalls,
	}
	var targets []rotation.Target
	// The engine sets each binding's Slot before Vet; targets is complete
	// by then.
	tdeps.Holds = func(b rotation.Binding) (cfnref.Held, bool) {
		return cfnref.HoldsOf(targets, func(b rotation.Binding) int { return b.Slot })(b)
	}
	for i, tc := range cc.Targets {
		t, err := target.New(ctx, tc, tdeps)
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
		MaxLifetime:         cc.Source.MaxLifetime.D(),
		Grace:               cc.Rotate.Grace.D(),
		RollbackDrain:       min(cc.Rotate.Grace.D(), rollbackDrain),
		AllowIdentityChange: opts.AllowIdentityChange || cc.Source.AllowIdentityChange,
	}, nil
}

// rollbackDrain bounds how long a rolled-back token stays valid (a
// poll's read-then-fetch takes well under it); grace: 0 means none.
const rollbackDrain = 2 * time.Second

// known reports whether fingerprint is one of credential's versions, in
// any state: the tokens a file target may replace.
func (e *Env) known(credential string) func(ctx context.Context, fingerprint string) (bool, error) {
	return func(ctx context.Context, fingerprint string) (bool, error) {
		versions, err := e.Store.Versions(ctx, credential)
		if err != nil && !errors.Is(err, rotation.ErrNotFound) {
			return false, err
		}
		for _, v := range versions {
			if v.Fingerprint == fingerprint {
				return true, nil
			}
		}
		return false, nil
	}
}

// FileTarget builds a file target from its config alone, without the store
// (rotor validate's read-only host checks: its Discover warns about what
// the path points to).
func FileTarget(ctx context.Context, tc config.Target) (rotation.Target, error) {
	return target.New(ctx, tc, target.Deps{})
}

// PromptToken reads a person's token from in: on a terminal with a hidden
// prompt, else a line of stdin. With explain, the personal-token source's
// advice on creating the token (what it needs) comes first; without it,
// the prompt names what.
func PromptToken(ctx context.Context, in io.Reader, out io.Writer, tty, explain bool, what string) (token.Token, error) {
	if explain {
		return personal.PromptReader(in, out, tty)(ctx)
	}
	return personal.ReadToken(ctx, in, out, tty, what)
}

// Revocations is the shared queue for GitHub's credential revocation API
// (nil when the store cannot keep one). Set its Alive to hear of tokens
// that outlive their revocation.
func (e *Env) Revocations() *revoke.Queue {
	e.revokeOnce.Do(func() {
		if st, ok := e.Store.(revoke.Store); ok {
			e.revocations = &revoke.Queue{Store: st, Sealer: e.Sealer, GitHub: RevocationGitHub(e.GitHub), Log: e.Log}
		}
	})
	return e.revocations
}

// RevocationGitHub adapts the GitHub client to the revocation queue, which
// knows GitHub only through its own small interface and sentinels.
func RevocationGitHub(c *github.Client) revoke.GitHub { return revokeGitHub{c} }

type revokeGitHub struct{ c *github.Client }

func (g revokeGitHub) RevokeCredentials(ctx context.Context, toks []token.Token) error {
	err := g.c.RevokeCredentials(ctx, toks)
	switch {
	case errors.Is(err, github.ErrRevocationUnsupported):
		return fmt.Errorf("%w: %w", revoke.ErrUnsupported, err)
	case errors.Is(err, github.ErrRateLimited):
		return fmt.Errorf("%w: %w", revoke.ErrRateLimited, err)
	}
	return err
}

func (g revokeGitHub) Accepts(ctx context.Context, tok token.Token) (bool, error) {
	return accepts(ctx, g.c, tok)
}
