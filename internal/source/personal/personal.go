package personal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Type is the source's name in rotor.yaml.
const Type = "personal-token"

// Config is one credential's personal-token source.
type Config struct {
	// Credential names the credential, for the prompt and for messages.
	Credential string
	// Scopes a classic token must have, besides those the bindings ask for.
	Scopes []string
	// ExpectLogin is the GitHub user of the token being replaced. When set
	// and AllowIdentityChange is false, Check refuses another user's token:
	// pasting a colleague's token would quietly move every pipeline to them.
	ExpectLogin         string
	AllowIdentityChange bool
	// Now is the clock for expiry checks; nil means time.Now.
	Now func() time.Time
	// Revoke, if set, revokes through the shared revocation queue
	// (package revoke); nil: one call to the revocation API.
	Revoke func(ctx context.Context, tok token.Token) error
	// OrgRevoke, if set, ends a fine-grained token's access to an
	// organisation through the organisation's API first (the token must
	// still be alive for GitHub to say whose it is); the token itself is
	// revoked as ever after it, whatever came of it.
	OrgRevoke func(ctx context.Context, tok token.Token) error
}

// Source reads personal tokens that a person created. Safe for concurrent
// use if read is.
type Source struct {
	cfg  Config
	gh   *github.Client
	read func(context.Context) (token.Token, error)
}

var _ rotation.Source = (*Source)(nil)

// New returns a source that asks GitHub through gh and gets each new token
// from read (PromptReader, or the CLI's --token-stdin).
func New(cfg Config, gh *github.Client, read func(context.Context) (token.Token, error)) *Source {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Source{cfg: cfg, gh: gh, read: read}
}

// Type implements rotation.Source.
func (s *Source) Type() string { return Type }

// Mint asks the person for the new token and checks its format only; Check
// asks GitHub. The token is the person's, so ByRotor is false.
func (s *Source) Mint(ctx context.Context, req rotation.Requirements) (rotation.Minted, error) {
	if s.read == nil {
		return rotation.Minted{}, fmt.Errorf("%w: no way to ask for a token (use a terminal or --token-stdin)", rotation.ErrNoToken)
	}
	ctx = WithNeed(ctx, Need{
		Credential:   s.cfg.Credential,
		Scopes:       s.scopes(req),
		Repositories: req.Repositories,
		MinValidity:  req.MinValidity,
		MaxLifetime:  req.MaxLifetime,
	})
	raw, err := s.read(ctx)
	if err != nil {
		if errors.Is(err, rotation.ErrNoToken) || ctx.Err() != nil {
			return rotation.Minted{}, err
		}
		return rotation.Minted{}, fmt.Errorf("read the new token: %w", err)
	}
	if raw.IsZero() {
		return rotation.Minted{}, rotation.ErrNoToken
	}
	tok, err := parse(raw)
	if err != nil {
		return rotation.Minted{}, err
	}
	return rotation.Minted{Token: tok}, nil
}

// parse accepts only the personal kinds, and says what to do otherwise.
func parse(raw token.Token) (token.Token, error) {
	tok, kind, err := token.Parse(raw.Reveal())
	if errors.Is(err, token.ErrEmpty) {
		return token.Token{}, rotation.ErrNoToken
	}
	if err != nil {
		return token.Token{}, fmt.Errorf("%w: %w; copy the whole token from GitHub again", rotation.ErrRejected, err)
	}
	switch kind {
	case token.KindClassicPAT, token.KindFineGrained:
		return tok, nil
	}
	return token.Token{}, fmt.Errorf("%w: this is a %s (%s), not a personal access token: create one in GitHub under Settings → Developer settings → Personal access tokens",
		rotation.ErrRejected, kind.Describe(), kind.Prefix())
}

// scopes is every classic scope the token needs: the config's and the bindings'.
func (s *Source) scopes(req rotation.Requirements) []string {
	out := slices.Concat(s.cfg.Scopes, req.Scopes)
	slices.Sort(out)
	return slices.Compact(out)
}

// Check proves tok fit before any target is touched: a personal kind with a
// good checksum, accepted by GitHub, of the expected user, with the scopes
// (classic tokens) and the repository access every binding needs, and not
// expiring too soon. A refusal wraps rotation.ErrRejected and says what to do.
func (s *Source) Check(ctx context.Context, tok token.Token, req rotation.Requirements) (rotation.Identity, error) {
	tok, err := parse(tok)
	if err != nil {
		return rotation.Identity{}, err
	}
	id, err := s.gh.Identify(ctx, tok)
	if err != nil {
		if errors.Is(err, github.ErrBadCredentials) {
			return rotation.Identity{}, fmt.Errorf("%w: %w: create a new token and try again", rotation.ErrRejected, github.ErrBadCredentials)
		}
		return rotation.Identity{}, fmt.Errorf("check token %s: %w", tok.Fingerprint(), err)
	}
	if s.cfg.ExpectLogin != "" && !s.cfg.AllowIdentityChange && !strings.EqualFold(id.Login, s.cfg.ExpectLogin) {
		return rotation.Identity{}, fmt.Errorf("%w: the token belongs to GitHub user %s, but the one it replaces belongs to %s: create the token as %s, or set allow_identity_change: true for this credential",
			rotation.ErrRejected, id.Login, s.cfg.ExpectLogin, s.cfg.ExpectLogin)
	}
	need := s.scopes(req)
	if id.Scopes != nil { // classic: GitHub lists its scopes
		if missing := missingScopes(id.Scopes, need); len(missing) > 0 {
			return rotation.Identity{}, fmt.Errorf("%w: the token lacks scope %s: create a new token with scopes %s",
				rotation.ErrRejected, strings.Join(missing, ", "), strings.Join(need, ", "))
		}
	}
	if !id.ExpiresAt.IsZero() {
		if left := id.ExpiresAt.Sub(s.cfg.Now()); left < req.MinValidity {
			return rotation.Identity{}, fmt.Errorf("%w: the token expires %s, in %s, sooner than the %s rotor needs: create one with a later expiration",
				rotation.ErrRejected, id.ExpiresAt.UTC().Format(time.DateTime+" UTC"), days(left), days(req.MinValidity))
		}
	}
	if _, err := s.gh.FirstUnreadable(ctx, tok, req.Repositories); err != nil {
		if errors.Is(err, github.ErrNoAccess) || errors.Is(err, github.ErrBadCredentials) {
			return rotation.Identity{}, fmt.Errorf("%w: %w", rotation.ErrRejected, err)
		}
		return rotation.Identity{}, fmt.Errorf("check token %s: %w", tok.Fingerprint(), err)
	}
	return rotation.Identity{Login: id.Login, Scopes: id.Scopes, ExpiresAt: id.ExpiresAt}, nil
}

// Revoke asks GitHub to revoke tok (and, with OrgRevoke, a fine-grained
// token's access to the organisation before). GitHub answers the same for
// a live and a dead token, so this is idempotent. Where GitHub has no
// revocation API the error wraps rotation.ErrManualRevocation and says
// what to delete.
func (s *Source) Revoke(ctx context.Context, tok token.Token) error {
	if tok.IsZero() {
		return nil
	}
	var orgErr error
	if s.cfg.OrgRevoke != nil && token.KindOf(tok.Reveal()) == token.KindFineGrained {
		orgErr = s.cfg.OrgRevoke(ctx, tok)
	}
	// The token is revoked (or queued) whatever became of its grant: its
	// revocation ends the grant too. The caller hears of the
	// organisation's failure all the same and tries again, until GitHub
	// refuses the token and the organisation has nothing left to revoke.
	return errors.Join(s.revoke(ctx, tok), orgErr)
}

func (s *Source) revoke(ctx context.Context, tok token.Token) error {
	var err error
	if s.cfg.Revoke != nil {
		err = s.cfg.Revoke(ctx, tok)
	} else {
		err = s.gh.RevokeCredentials(ctx, []token.Token{tok})
	}
	if errors.Is(err, github.ErrRevocationUnsupported) {
		return fmt.Errorf("%w: %s", rotation.ErrManualRevocation, Instructions(s.cfg.Credential, tok))
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", tok.Fingerprint(), err)
	}
	return nil
}

// Instructions tells a person how to delete tok in GitHub by hand, naming it
// by fingerprint and kind, never by any character of its value.
func Instructions(credential string, tok token.Token) string {
	list := "Tokens (classic)"
	if token.KindOf(tok.Reveal()) == token.KindFineGrained {
		list = "Fine-grained tokens"
	}
	what, note := "the old token", ""
	if credential != "" {
		what = "the old token of credential " + credential
		note = fmt.Sprintf("; its note is the one you gave it, e.g. \"rotor %s\"", credential)
	}
	return fmt.Sprintf("GitHub cannot revoke personal tokens through its API here; delete %s by hand: "+
		"in GitHub open Settings → Developer settings → Personal access tokens → %s, "+
		"find the token (rotor knows it as %s%s) and choose Delete",
		what, list, tok.Fingerprint(), note)
}
