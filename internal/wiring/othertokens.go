package wiring

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target"
	"github.com/rotor-ci/rotor/internal/token"
)

// otherTokens answers a target's question "which token does this binding,
// which belongs to another credential, hold?". CodePipeline needs it: a
// pipeline update must carry every GitHub action's real token, because a
// masked "****" sent back would be stored as the token. A binding belongs
// to a credential when that credential's newest successful run (or its open
// run) lists it, or, for a credential adopted but never rotated, when its
// targets discover it; rotor then holds the token that credential has current.
// Two credentials in one pipeline are still a hazard across processes (the
// API has no conditional update): rotor plan warns about it.
func (e *Env) otherTokens(self string) func(ctx context.Context, bindingID string) (token.Token, bool, error) {
	var once sync.Once
	var owners map[string]string // binding ID → credential
	var loadErr error
	return func(ctx context.Context, bindingID string) (token.Token, bool, error) {
		once.Do(func() { owners, loadErr = e.bindingOwners(ctx, self) })
		if loadErr != nil {
			return token.Token{}, false, loadErr
		}
		owner, ok := owners[bindingID]
		if !ok {
			return token.Token{}, false, nil
		}
		// While the owner rotates, its binding may hold either of its tokens
		// and may be rolled back at any moment: writing either could undo its
		// run. Refuse the shared pipeline until that run finishes.
		if run, err := e.Store.OpenRun(ctx, owner); err == nil {
			return token.Token{}, false, fmt.Errorf("%s is shared with credential %s, whose run %d is in flight: rotate again after it finishes", bindingID, owner, run.ID)
		} else if !errors.Is(err, rotation.ErrNotFound) {
			return token.Token{}, false, err
		}
		versions, err := e.Store.Versions(ctx, owner)
		if err != nil {
			return token.Token{}, false, err
		}
		for _, v := range versions {
			if v.State == rotation.VersionCurrent {
				t, err := e.Sealer.Open(v.Sealed)
				if err != nil {
					return token.Token{}, false, fmt.Errorf("open %s's current token: %w", owner, err)
				}
				return t, true, nil
			}
		}
		return token.Token{}, false, nil
	}
}

func (e *Env) bindingOwners(ctx context.Context, self string) (map[string]string, error) {
	owners := map[string]string{}
	for _, c := range e.Config.Credentials {
		if c.Name == self {
			continue
		}
		runs, err := e.Store.Runs(ctx, c.Name, 20)
		if err != nil && !errors.Is(err, rotation.ErrNotFound) {
			return nil, err
		}
		rotated := false
		for _, r := range runs {
			if r.Status != rotation.RunSucceeded {
				continue
			}
			states, err := e.Store.Bindings(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			for _, st := range states {
				owners[st.Binding.ID] = c.Name
			}
			rotated = true
			break
		}
		if !rotated {
			// Adopted but never rotated: its targets say which bindings it
			// holds. They are built without OtherTokens, so that discovering
			// them never asks back about this credential.
			for _, tc := range c.Targets {
				t, err := target.New(ctx, tc, target.Deps{AWS: e.Config.AWS, Log: e.Log, Dir: e.Config.Dir()})
				if err != nil {
					return nil, fmt.Errorf("%s: %w", c.Name, err)
				}
				bs, _ := t.Discover(ctx) // what it can find; a refusal elsewhere is its own business
				for _, b := range bs {
					owners[b.ID] = c.Name
				}
			}
		}
	}
	return owners, nil
}
