package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/schedule"
)

// Grant is what status shows of a github-app-user credential's refresh
// grant: fingerprints and states, never a token.
type Grant struct {
	RefreshFingerprint string    `json:"refresh_fingerprint"`
	State              string    `json:"state"` // ready, refreshing, lost
	ExpiresAt          time.Time `json:"expires_at,omitzero"`
	Note               string    `json:"note,omitempty"`
}

// grant reads the credential's grant, when its store keeps grants.
func grantOf(ctx context.Context, cc config.Credential, st Reader) (*Grant, []string, error) {
	gs, ok := st.(grant.Grants)
	if !ok || cc.Source.Type != config.SourceGitHubAppUser {
		return nil, nil, nil
	}
	g, err := gs.Grant(ctx, cc.Name)
	if errors.Is(err, rotation.ErrNotFound) {
		return nil, []string{fmt.Sprintf("person needed: rotor holds no GitHub App user authorization yet; %s", grant.AuthorizeHint(cc.Name))}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	out := &Grant{RefreshFingerprint: g.Fingerprint, State: string(g.State), ExpiresAt: g.ExpiresAt, Note: g.Note}
	switch g.State {
	case grant.GrantLost:
		return out, []string{"person needed: " + g.Note}, nil
	case grant.GrantRefreshing:
		return out, []string{fmt.Sprintf("a refresh was sent at %s and its answer is not recorded: the next rotation finds out whether GitHub used the refresh token", g.UpdatedAt.UTC().Format(time.DateTime+" UTC"))}, nil
	}
	return out, nil, nil
}

// GrantLabel is one line on the grant, for tables.
func (c Credential) GrantLabel() string {
	if c.Grant == nil {
		return ""
	}
	s := fmt.Sprintf("refresh token %s %s", c.Grant.RefreshFingerprint, c.Grant.State)
	if !c.Grant.ExpiresAt.IsZero() {
		s += fmt.Sprintf(", expires %s", c.Grant.ExpiresAt.UTC().Format(time.DateOnly))
	}
	return s
}

// LifetimeWarning says, when the organisation's maximum lifetime
// (source.max_lifetime) blocks the current token cur, why and what to do;
// "" otherwise. GitHub does not revoke such a token: it refuses it on the
// organisation's resources, so everything that uses it there fails.
func LifetimeWarning(cc config.Credential, cur *rotation.Version) string {
	if cur == nil {
		return ""
	}
	st := schedule.State{HasCurrent: true, CurrentCreated: cur.CreatedAt, CurrentExpires: cur.ExpiresAt}
	if !schedule.OverLifetime(Policy(cc), st) {
		return ""
	}
	why := "it has no expiration, which GitHub counts as longer than any maximum"
	if life, bounded := schedule.Lifetime(st); bounded {
		why = fmt.Sprintf("it lives at least %s (rotor recorded it %s; it expires %s)", Human(life),
			cur.CreatedAt.UTC().Format(time.DateOnly), cur.ExpiresAt.UTC().Format(time.DateOnly))
	}
	return fmt.Sprintf("the organisation's maximum token lifetime (source.max_lifetime %s) blocks the current token v%d %s: %s, so GitHub refuses it on the organisation's resources. "+
		"Create a token that expires within %s and run 'rotor rotate %s' now", cc.Source.MaxLifetime, cur.Seq, cur.Fingerprint, why, cc.Source.MaxLifetime, cc.Name)
}
