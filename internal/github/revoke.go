package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/token"
)

// MaxRevokeBatch is the most credentials GitHub revokes in one request.
const MaxRevokeBatch = 1000

// RevokeCredentials asks GitHub to revoke personal and OAuth tokens through
// the credential revocation API (POST /credentials/revoke). The request
// carries no Authorization header: GitHub refuses authenticated calls. GitHub
// answers 202 for tokens it revokes and for ones that were already dead,
// so this is idempotent. A GitHub without the API (404) gives
// ErrRevocationUnsupported; an invalid request (422) an error.
func (c *Client) RevokeCredentials(ctx context.Context, toks []token.Token) error {
	api := c.api("")
	for start := 0; start < len(toks); start += MaxRevokeBatch {
		batch := toks[start:min(start+MaxRevokeBatch, len(toks))]
		values := make([]string, 0, len(batch))
		for _, t := range batch {
			if !t.IsZero() {
				values = append(values, t.Reveal())
			}
		}
		if len(values) == 0 {
			continue
		}
		_, err := api.Credentials.Revoke(ctx, values)
		if err == nil || errors.As(err, new(*gh.AcceptedError)) {
			continue
		}
		err = sanitize(err)
		switch status(err) {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrRevocationUnsupported, err)
		case http.StatusUnprocessableEntity:
			return fmt.Errorf("revoke %d credentials: GitHub refused the request: %w", len(values), err)
		}
		return fmt.Errorf("revoke %d credentials: %w", len(values), err)
	}
	return nil
}
