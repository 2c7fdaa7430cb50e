package wiring

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/source/githubapp"
	"github.com/rotor-ci/rotor/internal/token"
)

// orgRevoker builds the organisation route of a personal-token source's
// org_revoke: its app is a github-app source of its own, narrowed to the
// one permission, whose tokens live for one revocation each. Outcomes go
// to the audit log; a grant that outlives its revocation goes to the
// revocation queue's alert path, which rotor serve sets.
func (e *Env) orgRevoker(o config.OrgRevoke) (*revoke.Org, error) {
	app, err := githubapp.New(githubapp.Config{
		AppID: o.AppID, ClientID: o.ClientID, InstallationID: o.InstallationID, PrivateKeyFile: o.PrivateKeyFile,
		Permissions: map[string]string{github.OrgPATPermission: "write"},
	}, e.GitHub)
	if err != nil {
		return nil, err
	}
	return &revoke.Org{
		Org:    o.Org,
		GitHub: OrgRevocationGitHub(e.GitHub, app),
		Record: e.recordAudit,
		Alive: func(ctx context.Context, it revoke.Item) {
			if q := e.Revocations(); q != nil && q.Alive != nil {
				q.Alive(ctx, it)
			}
		},
		Log: e.Log,
	}, nil
}

// recordAudit appends one record for credential outside any run.
func (e *Env) recordAudit(ctx context.Context, credential, event string, detail map[string]any) error {
	rec, err := rotation.AuditRecord(time.Now(), e.Holder, rotation.Run{Credential: credential}, event, detail)
	if err != nil {
		return err
	}
	return e.store.Tx(ctx, func(tx rotation.Tx) error { _, err := tx.AppendAudit(rec); return err })
}

// OrgApp mints the installation tokens of an organisation's app.
type OrgApp interface {
	Mint(ctx context.Context, req rotation.Requirements) (rotation.Minted, error)
}

// OrgRevocationGitHub adapts the GitHub client and an organisation's app
// to the organisation route (revoke.Org).
func OrgRevocationGitHub(c *github.Client, app OrgApp) revoke.OrgGitHub { return orgGitHub{c, app} }

type orgGitHub struct {
	c   *github.Client
	app OrgApp
}

func (g orgGitHub) Owner(ctx context.Context, tok token.Token) (string, time.Time, bool, error) {
	id, err := g.c.Identify(ctx, tok)
	switch {
	case errors.Is(err, github.ErrBadCredentials):
		return "", time.Time{}, false, nil
	case err != nil:
		return "", time.Time{}, false, err
	}
	return id.Login, id.ExpiresAt, true, nil
}

func (g orgGitHub) AppToken(ctx context.Context) (token.Token, func(context.Context) error, error) {
	m, err := g.app.Mint(ctx, rotation.Requirements{})
	if err != nil {
		return token.Token{}, nil, fmt.Errorf("the organisation's app (its installation needs the organisation permission \"Personal access tokens\", %s: write): %w", github.OrgPATPermission, err)
	}
	return m.Token, func(ctx context.Context) error { return g.c.RevokeInstallationToken(ctx, m.Token) }, nil
}

func (g orgGitHub) Grants(ctx context.Context, app token.Token, org, login string) ([]revoke.OrgGrant, error) {
	list, err := g.c.OrgGrants(ctx, app, org, login)
	if err != nil {
		return nil, err
	}
	out := make([]revoke.OrgGrant, 0, len(list))
	for _, l := range list {
		out = append(out, revoke.OrgGrant{ID: l.ID, TokenID: l.TokenID, TokenName: l.TokenName, Expired: l.Expired, ExpiresAt: l.ExpiresAt})
	}
	return out, nil
}

func (g orgGitHub) RevokeGrant(ctx context.Context, app token.Token, org string, patID int64) error {
	err := g.c.RevokeOrgGrant(ctx, app, org, patID)
	if errors.Is(err, github.ErrNotFound) {
		return fmt.Errorf("%w: %w", revoke.ErrGrantGone, err)
	}
	return err
}
