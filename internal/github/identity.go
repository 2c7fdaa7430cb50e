package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/token"
)

// InstallationLogin is the Login of an installation token's Identity.
const InstallationLogin = "installation"

// Identity is what GitHub says about a token.
type Identity struct {
	Login string // the user's login, or InstallationLogin
	// Scopes are a classic token's OAuth scopes (X-OAuth-Scopes). Nil when
	// GitHub sent no such header: fine-grained and installation tokens have
	// permissions instead, which GitHub does not list.
	Scopes    []string
	ExpiresAt time.Time // zero when GitHub sent no expiry
	// Repositories an installation token can read ("owner/repo"), as far as
	// the first maxInstallationRepos.
	Repositories []string
}

// Installation reports whether the token is a GitHub App installation token.
func (id Identity) Installation() bool { return id.Login == InstallationLogin }

const maxInstallationRepos = 1000

// Identify asks GitHub who tok is: GET /user for user tokens, GET
// /installation/repositories for installation tokens (ghs_), which have no
// user. A refused token is ErrBadCredentials.
func (c *Client) Identify(ctx context.Context, tok token.Token) (Identity, error) {
	if tok.IsZero() {
		return Identity{}, errEmptyToken
	}
	if token.KindOf(tok.Reveal()) == token.KindInstallation {
		return c.identifyInstallation(ctx, tok)
	}
	user, resp, err := c.api(tok.Reveal()).Users.Get(ctx, "")
	if err != nil {
		return Identity{}, fmt.Errorf("identify token %s: %w", tok.Fingerprint(), classify(err))
	}
	id := Identity{Login: user.GetLogin(), ExpiresAt: resp.TokenExpiration.Time}
	if vals := resp.Header.Values("X-OAuth-Scopes"); len(vals) > 0 {
		id.Scopes = parseScopes(strings.Join(vals, ","))
	}
	return id, nil
}

func (c *Client) identifyInstallation(ctx context.Context, tok token.Token) (Identity, error) {
	api := c.api(tok.Reveal())
	id := Identity{Login: InstallationLogin}
	opts := &gh.ListOptions{PerPage: 100}
	for {
		list, resp, err := api.Apps.ListRepos(ctx, opts)
		if err != nil {
			return Identity{}, fmt.Errorf("identify installation token %s: %w", tok.Fingerprint(), classify(err))
		}
		if id.ExpiresAt.IsZero() {
			id.ExpiresAt = resp.TokenExpiration.Time
		}
		for _, r := range list.Repositories {
			id.Repositories = append(id.Repositories, r.GetFullName())
		}
		if resp.NextPage == 0 || len(id.Repositories) >= maxInstallationRepos {
			return id, nil
		}
		opts.Page = resp.NextPage
	}
}

// parseScopes splits "repo, admin:repo_hook"; an empty header is no scopes
// (not nil: the token is classic, it just has none).
func parseScopes(h string) []string {
	out := []string{}
	for s := range strings.SplitSeq(h, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CanRead checks that tok can read owner/repo. GitHub hides a repository a
// token cannot read behind 404, which becomes ErrNoAccess.
func (c *Client) CanRead(ctx context.Context, tok token.Token, owner, repo string) error {
	if tok.IsZero() {
		return errEmptyToken
	}
	_, _, err := c.api(tok.Reveal()).Repositories.Get(ctx, owner, repo)
	if err == nil {
		return nil
	}
	err = classify(err)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w to %s/%s: GitHub hides repositories a token cannot read: give the token access to %s/%s", ErrNoAccess, owner, repo, owner, repo)
	}
	return fmt.Errorf("read %s/%s: %w", owner, repo, err)
}

// FirstUnreadable checks that tok can read every repository of repos
// ("owner/repo") and returns the first it cannot, with CanRead's error:
// ErrNoAccess or ErrBadCredentials when GitHub refuses, another error when
// it could not say. A malformed name is an error too. "" and nil: tok
// reads them all. The sources' checks share it and word the refusal
// each for its own kind of token.
func (c *Client) FirstUnreadable(ctx context.Context, tok token.Token, repos []string) (string, error) {
	for _, full := range repos {
		owner, repo, ok := strings.Cut(full, "/")
		if !ok {
			return full, fmt.Errorf("repository %q is not owner/repo", full)
		}
		if err := c.CanRead(ctx, tok, owner, repo); err != nil {
			return full, err
		}
	}
	return "", nil
}

// classify sanitises err and maps the statuses callers branch on.
func classify(err error) error {
	err = sanitize(err)
	switch status(err) {
	case http.StatusUnauthorized:
		return ErrBadCredentials
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
