package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/token"
)

// OrgPATPermission is the organisation permission a GitHub App needs to list
// (read) and revoke (write) the fine-grained tokens that may use the
// organisation's resources.
const OrgPATPermission = "organization_personal_access_tokens"

// OrgGrant is an organisation's grant of access to one fine-grained
// personal token (organization-programmatic-access-grant). GitHub names the
// token by its id and name, never by its value.
type OrgGrant struct {
	ID         int64 // the pat_id to revoke it by
	Owner      string
	TokenID    int64
	TokenName  string
	Expired    bool
	ExpiresAt  time.Time // zero: the token never expires
	LastUsedAt time.Time // zero: never used on the organisation
}

// OrgGrants lists every grant of org that a fine-grained token of owner
// holds (GET /orgs/{org}/personal-access-tokens?owner[]=owner, every page),
// as the organisation's app installation, whose token is app.
func (c *Client) OrgGrants(ctx context.Context, app token.Token, org, owner string) ([]OrgGrant, error) {
	if app.IsZero() {
		return nil, errEmptyToken
	}
	api := c.api(app.Reveal())
	opts := &gh.ListFineGrainedPATOptions{Owner: []string{owner}, ListOptions: gh.ListOptions{PerPage: 100}}
	var out []OrgGrant
	for {
		page, resp, err := api.Organizations.ListFineGrainedPersonalAccessTokens(ctx, org, opts)
		if err != nil {
			return nil, fmt.Errorf("list the fine-grained tokens of %s in organisation %s: %w", owner, org, orgPATError(err))
		}
		for _, p := range page {
			out = append(out, OrgGrant{
				ID: p.GetID(), Owner: p.GetOwner().GetLogin(), TokenID: p.GetTokenID(), TokenName: p.GetTokenName(),
				Expired: p.GetTokenExpired(), ExpiresAt: p.GetTokenExpiresAt().Time, LastUsedAt: p.GetTokenLastUsedAt().Time,
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// RevokeOrgGrant revokes the organisation's grant patID (POST
// /orgs/{org}/personal-access-tokens/{pat_id} {action: revoke} → 204): the
// token keeps working for its user, but not on org's resources. A grant
// that is gone already is ErrNotFound.
func (c *Client) RevokeOrgGrant(ctx context.Context, app token.Token, org string, patID int64) error {
	if app.IsZero() {
		return errEmptyToken
	}
	api := c.api(app.Reveal())
	req, err := api.NewRequest(ctx, http.MethodPost, fmt.Sprintf("orgs/%s/personal-access-tokens/%d", org, patID), struct {
		Action string `json:"action"`
	}{"revoke"})
	if err != nil {
		return fmt.Errorf("revoke grant %d of organisation %s: %w", patID, org, err)
	}
	if _, err := api.Do(req, nil); err != nil {
		return fmt.Errorf("revoke grant %d of organisation %s: %w", patID, org, orgPATError(err))
	}
	return nil
}

// orgPATError says what a person can do about the usual refusals: only a
// GitHub App installed on the organisation, with the permission, may call.
func orgPATError(err error) error {
	err = sanitize(err)
	if _, ok := errors.AsType[*RateLimitError](err); ok {
		return err
	}
	switch status(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case http.StatusForbidden:
		return fmt.Errorf("the GitHub App needs the organisation permission \"Personal access tokens\" (%s: write) and must be installed on the organisation: %w", OrgPATPermission, err)
	}
	return err
}
