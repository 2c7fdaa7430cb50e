package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/token"
)

// CreateInstallationToken mints an installation token with the app's JWT,
// narrowed to repos (names, without owner) and perms ({"contents": "read"})
// when given. It returns the token and when it expires.
//
// Not idempotent, so it is not retried after a server error: a second try
// could leave a live token behind that nobody uses.
func (c *Client) CreateInstallationToken(ctx context.Context, appJWT string, installationID int64, repos []string, perms map[string]string) (token.Token, time.Time, error) {
	if appJWT == "" {
		return token.Token{}, time.Time{}, errors.New("create installation token: no app JWT")
	}
	api := c.api(appJWT)
	body := struct {
		Repositories []string          `json:"repositories,omitempty"`
		Permissions  map[string]string `json:"permissions,omitempty"`
	}{repos, perms}
	req, err := api.NewRequest(ctx, http.MethodPost, fmt.Sprintf("app/installations/%d/access_tokens", installationID), body)
	if err != nil {
		return token.Token{}, time.Time{}, fmt.Errorf("create installation token: %w", err)
	}
	var out gh.InstallationToken
	if _, err := api.Do(req, &out); err != nil {
		err = sanitize(err)
		switch status(err) {
		case http.StatusUnauthorized:
			err = fmt.Errorf("GitHub refused the app's JWT (check app_id or client_id, the private key and this machine's clock): %w", err)
		case http.StatusNotFound:
			err = fmt.Errorf("%w: installation %d (is the app installed, and is installation_id right?): %w", ErrNotFound, installationID, err)
		}
		return token.Token{}, time.Time{}, fmt.Errorf("create installation token: %w", err)
	}
	if out.GetToken() == "" {
		return token.Token{}, time.Time{}, errors.New("create installation token: GitHub answered without a token")
	}
	return token.New(out.GetToken()), out.GetExpiresAt().Time, nil
}

// RevokeInstallationToken revokes an installation token with itself
// (DELETE /installation/token). Idempotent: a token GitHub already refuses
// is dead, which is what was asked.
func (c *Client) RevokeInstallationToken(ctx context.Context, tok token.Token) error {
	if tok.IsZero() {
		return errEmptyToken
	}
	_, err := c.api(tok.Reveal()).Apps.RevokeInstallationToken(ctx)
	if err == nil {
		return nil
	}
	err = sanitize(err)
	if status(err) == http.StatusUnauthorized {
		return nil
	}
	return fmt.Errorf("revoke installation token %s: %w", tok.Fingerprint(), err)
}

// AppSlug returns the slug of the app whose JWT this is (GET /app).
func (c *Client) AppSlug(ctx context.Context, appJWT string) (string, error) {
	if appJWT == "" {
		return "", errors.New("get app: no app JWT")
	}
	app, _, err := c.api(appJWT).Apps.Get(ctx, "")
	if err != nil {
		return "", fmt.Errorf("get app: %w", sanitize(err))
	}
	return app.GetSlug(), nil
}

// InstallationPermissions returns the permissions the installation was
// granted (GET /app/installations/{id}), by GitHub's names ("secrets":
// "write").
func (c *Client) InstallationPermissions(ctx context.Context, appJWT string, installationID int64) (map[string]string, error) {
	if appJWT == "" {
		return nil, errors.New("get installation: no app JWT")
	}
	in, _, err := c.api(appJWT).Apps.GetInstallation(ctx, installationID)
	if err != nil {
		return nil, fmt.Errorf("get installation %d: %w", installationID, sanitize(err))
	}
	// go-github's struct has a field per permission; its JSON has GitHub's names.
	b, err := json.Marshal(in.GetPermissions())
	if err != nil {
		return nil, fmt.Errorf("get installation %d: %w", installationID, err)
	}
	out := map[string]string{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("get installation %d: %w", installationID, err)
	}
	return out, nil
}
