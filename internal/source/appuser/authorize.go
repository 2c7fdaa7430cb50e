package appuser

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Authorize runs the device flow: it asks GitHub for a code, has show tell
// the person where to enter it, polls until they approve, and records the
// new grant with its user token set aside for the next Mint. It never shows
// a token. Without force it refuses to replace a grant that still works.
func (s *Source) Authorize(ctx context.Context, force bool, show func(grant.Prompt)) (grant.Authorized, error) {
	name := s.cfg.Credential
	old, err := s.grants.Grant(ctx, name)
	switch {
	case errors.Is(err, rotation.ErrNotFound):
	case err != nil:
		return grant.Authorized{}, err
	case old.State == grant.GrantReady && !force:
		return grant.Authorized{}, fmt.Errorf("%w (%s, refresh token %s): 'rotor rotate %s' renews its token; pass --force to replace the authorization",
			grant.ErrGrantReady, name, old.Fingerprint, name)
	}
	dc, err := s.gh.StartDeviceFlow(ctx, s.cfg.ClientID)
	if err != nil {
		return grant.Authorized{}, err
	}
	show(grant.Prompt{Code: dc.UserCode, URL: dc.VerificationURI, ExpiresIn: dc.ExpiresIn.String()})
	startedAt := s.cfg.Now()
	pair, err := s.gh.PollDeviceFlow(ctx, s.cfg.ClientID, dc)
	if err != nil {
		return grant.Authorized{}, err
	}
	login := ""
	if id, err := s.gh.Identify(ctx, pair.Access); err == nil {
		login = id.Login
	}
	if err := s.recordAuthorized(ctx, pair, startedAt); err != nil {
		if rerr := s.gh.RevokeCredentials(context.WithoutCancel(ctx), []token.Token{pair.Access}); rerr != nil {
			return grant.Authorized{}, fmt.Errorf("%w (and revoking the new pair failed: %v)", err, rerr)
		}
		return grant.Authorized{}, err
	}
	out := grant.Authorized{Login: login, Fingerprint: pair.Access.Fingerprint()}
	if old.Fingerprint != "" && old.State == grant.GrantReady {
		if prev, err := s.sealer.Open(ctx, rotation.SealContext{Credential: name, Fingerprint: old.Fingerprint}, old.Sealed); err == nil {
			out.Previous, out.PreviousPair = prev, old.PairFingerprint
		}
	}
	return out, nil
}

// recordAuthorized seals both tokens and records them as the grant,
// replacing whatever was there.
func (s *Source) recordAuthorized(ctx context.Context, pair github.UserTokens, at time.Time) error {
	name := s.cfg.Credential
	access := pair.Access.Fingerprint()
	sealedAccess, err := s.sealer.Seal(ctx, rotation.SealContext{Credential: name, Fingerprint: access}, pair.Access)
	if err != nil {
		return fmt.Errorf("seal the user token: %w", err)
	}
	fp := pair.Refresh.Fingerprint()
	sealed, err := s.sealer.Seal(ctx, rotation.SealContext{Credential: name, Fingerprint: fp}, pair.Refresh)
	if err != nil {
		return fmt.Errorf("seal the refresh token: %w", err)
	}
	return s.grants.ReplaceGrant(ctx, grant.Grant{Credential: name, Fingerprint: fp, Sealed: sealed, ExpiresAt: expiry(at, pair.RefreshTTL),
		PairFingerprint: access, Stash: sealedAccess, StashExpiresAt: expiry(at, pair.AccessTTL), State: grant.GrantReady}, "")
}
