package appuser

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Type is the source's name in rotor.yaml.
const Type = "github-app-user"

// Steps the source reports to the engine's hook (rotation.ReportStep):
// the torture harness crashes rotor right after each.
const (
	StepRefreshMarked   = "refresh.marked"   // the grant is recorded as refreshing; nothing sent yet
	StepRefreshAnswered = "refresh.answered" // GitHub answered; the answer is not recorded yet
	StepRefreshRecorded = "refresh.recorded" // the next refresh token is sealed and recorded
)

// Config is one credential's github-app-user source.
type Config struct {
	Credential string
	ClientID   string // the GitHub App's client id (Iv1…/Iv23…)
	// ClientSecretFile holds the app's client secret (mode 0600). A grant
	// that began with the device flow refreshes without it.
	ClientSecretFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Revoker revokes a token for good (the credential revocation API, or its
// queue). Idempotent.
type Revoker func(ctx context.Context, credential string, tok token.Token) error

// Source mints user tokens by refreshing. Safe for concurrent use; one
// credential's refreshes are serialised by the engine's lease.
type Source struct {
	cfg    Config
	secret string
	gh     *github.Client
	grants grant.Grants
	sealer rotation.Sealer
	revoke Revoker
}

var (
	_ rotation.Source      = (*Source)(nil)
	_ rotation.Superseding = (*Source)(nil)
)

// New returns the source; it reads the client secret file now, refusing one
// that others can read.
func New(cfg Config, gh *github.Client, grants grant.Grants, sealer rotation.Sealer, revoke Revoker) (*Source, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("github-app-user: need client_id (the GitHub App's client ID, from its settings page)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Source{cfg: cfg, gh: gh, grants: grants, sealer: sealer, revoke: revoke}
	if cfg.ClientSecretFile != "" {
		secret, err := readSecret(cfg.ClientSecretFile)
		if err != nil {
			return nil, err
		}
		s.secret = secret
	}
	return s, nil
}

func readSecret(path string) (string, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("client secret file %s does not exist (generate a client secret in the app's settings)", path)
	case err != nil:
		return "", fmt.Errorf("client secret file %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("client secret file %s is not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("client secret file %s has mode %04o: group and others must not have access; fix with: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("client secret file %s: %w", path, err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("client secret file %s is empty", path)
	}
	return secret, nil
}

// Type implements rotation.Source.
func (s *Source) Type() string { return Type }

// Supersedes implements rotation.Superseding: a refresh ends the user
// token it replaces.
func (s *Source) Supersedes() bool { return true }

func (s *Source) personNeeded(format string, args ...any) error {
	return fmt.Errorf("%w: %s; %s", rotation.ErrPersonNeeded, fmt.Sprintf(format, args...), grant.AuthorizeHint(s.cfg.Credential))
}

// Mint hands over the user token that rotor authorize left unused, or else
// refreshes: mark the grant refreshing, send the refresh, seal and record
// the next refresh token, then return the new user token.
func (s *Source) Mint(ctx context.Context, _ rotation.Requirements) (rotation.Minted, error) {
	name := s.cfg.Credential
	g, err := s.grants.Grant(ctx, name)
	if errors.Is(err, rotation.ErrNotFound) {
		return rotation.Minted{}, s.personNeeded("rotor holds no GitHub App user authorization for %s yet", name)
	}
	if err != nil {
		return rotation.Minted{}, err
	}
	if g.State == grant.GrantLost {
		return rotation.Minted{}, fmt.Errorf("%w: %s", rotation.ErrPersonNeeded, g.Note)
	}
	if g.Stash != nil {
		sealed, err := s.grants.TakeStash(ctx, name, g.PairFingerprint)
		if err != nil {
			return rotation.Minted{}, err
		}
		if sealed != nil {
			tok, err := s.sealer.Open(ctx, rotation.SealContext{Credential: name, Fingerprint: g.PairFingerprint}, sealed)
			if err != nil {
				return rotation.Minted{}, fmt.Errorf("open the authorized user token: %w", err)
			}
			return rotation.Minted{Token: tok, ExpiresAt: g.StashExpiresAt, ByRotor: true}, nil
		}
	}
	refresh, err := s.sealer.Open(ctx, rotation.SealContext{Credential: name, Fingerprint: g.Fingerprint}, g.Sealed)
	if err != nil {
		return rotation.Minted{}, fmt.Errorf("open the refresh token: %w", err)
	}
	retry := g.State == grant.GrantRefreshing
	if !retry {
		if err := s.grants.SetGrantState(ctx, name, g.Fingerprint, grant.GrantRefreshing, ""); err != nil {
			return rotation.Minted{}, err
		}
		rotation.ReportStep(ctx, StepRefreshMarked)
	}
	// The refresh spends the refresh token and its answer holds the only
	// copy of the next one: once sent, it runs to its answer and the
	// answer is recorded even if ctx ends meanwhile (rotation.Detached).
	dctx, cancel := rotation.Detached(ctx)
	defer cancel()
	sentAt := s.cfg.Now()
	pair, err := s.gh.RefreshUserToken(dctx, s.cfg.ClientID, s.secret, refresh)
	switch {
	case errors.Is(err, github.ErrBadRefreshToken):
		note := fmt.Sprintf("GitHub refuses the refresh token of %s (%s): it expired or was revoked", name, g.Fingerprint)
		if retry {
			note = fmt.Sprintf("a refresh of %s's token (%s) was sent before %s and rotor stopped before recording GitHub's answer; GitHub has used that refresh token, so its answer, the only copy of the next one, is lost (the user token the targets held ended with it)",
				name, g.Fingerprint, g.UpdatedAt.UTC().Format(time.DateTime+" UTC"))
		}
		note += "; " + grant.AuthorizeHint(name)
		if err := s.grants.SetGrantState(ctx, name, g.Fingerprint, grant.GrantLost, note); err != nil {
			return rotation.Minted{}, err
		}
		return rotation.Minted{}, fmt.Errorf("%w: %s", rotation.ErrPersonNeeded, note)
	case err != nil:
		// The answer may or may not have been given: the grant stays
		// refreshing and the next Mint finds out.
		return rotation.Minted{}, err
	}
	rotation.ReportStep(ctx, StepRefreshAnswered)
	if err := s.record(dctx, g, pair, sentAt); err != nil {
		return rotation.Minted{}, err
	}
	rotation.ReportStep(ctx, StepRefreshRecorded)
	return rotation.Minted{Token: pair.Access, ExpiresAt: expiry(sentAt, pair.AccessTTL), ByRotor: true}, nil
}

func expiry(from time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return from.Add(ttl)
}

// recordAttempts bounds how often the refresh answer's record is tried:
// the refresh token in it exists nowhere else.
const recordAttempts = 6

// record seals the next refresh token and stores it in place of the one
// used, trying hard: it is the only copy. It goes on even when ctx is
// cancelled (shutdown, a lost lease), bounded by its own deadline; the
// compare on the old fingerprint keeps it from overwriting a newer grant.
func (s *Source) record(ctx context.Context, old grant.Grant, pair github.UserTokens, sentAt time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	name := s.cfg.Credential
	fp := pair.Refresh.Fingerprint()
	var err error
	for attempt := range recordAttempts {
		var sealed []byte
		sealed, err = s.sealer.Seal(ctx, rotation.SealContext{Credential: name, Fingerprint: fp}, pair.Refresh)
		if err == nil {
			err = s.grants.ReplaceGrant(ctx, grant.Grant{Credential: name, Fingerprint: fp, Sealed: sealed, ExpiresAt: expiry(sentAt, pair.RefreshTTL),
				PairFingerprint: pair.Access.Fingerprint(), State: grant.GrantReady}, old.Fingerprint)
		}
		if err == nil || errors.Is(err, grant.ErrGrantChanged) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 250 * time.Millisecond)
	}
	if err == nil {
		return nil
	}
	// The pair cannot be kept: end it, so that no live token is left that
	// rotor does not know (revoking the user token ends its refresh token).
	if rerr := s.gh.RevokeCredentials(ctx, []token.Token{pair.Access}); rerr != nil {
		return fmt.Errorf("record the refresh answer: %w (and revoking the unrecorded pair failed: %v)", err, rerr)
	}
	return fmt.Errorf("record the refresh answer: %w (the new pair was revoked)", err)
}

// Check proves tok a live user token of this app's user that can read
// every repository the bindings need and lives long enough.
func (s *Source) Check(ctx context.Context, tok token.Token, req rotation.Requirements) (rotation.Identity, error) {
	tok, kind, err := token.Parse(tok.Reveal())
	if err != nil {
		return rotation.Identity{}, fmt.Errorf("%w: %w", rotation.ErrRejected, err)
	}
	if kind != token.KindAppUser {
		return rotation.Identity{}, fmt.Errorf("%w: this is a %s, not a GitHub App user token", rotation.ErrRejected, kind.Describe())
	}
	id, err := s.gh.Identify(ctx, tok)
	if err != nil {
		if errors.Is(err, github.ErrBadCredentials) {
			return rotation.Identity{}, fmt.Errorf("%w: %w", rotation.ErrRejected, err)
		}
		return rotation.Identity{}, fmt.Errorf("check token %s: %w", tok.Fingerprint(), err)
	}
	if !id.ExpiresAt.IsZero() {
		if left := id.ExpiresAt.Sub(s.cfg.Now()); left < req.MinValidity {
			return rotation.Identity{}, fmt.Errorf("%w: the user token expires in %s, sooner than the %s rotor needs (renew_before)",
				rotation.ErrRejected, left.Round(time.Second), req.MinValidity)
		}
	}
	if full, err := s.gh.FirstUnreadable(ctx, tok, req.Repositories); err != nil {
		if errors.Is(err, github.ErrNoAccess) || errors.Is(err, github.ErrBadCredentials) {
			owner, _, _ := strings.Cut(full, "/")
			return rotation.Identity{}, fmt.Errorf("%w: %w (a user token reaches what both its user and the app's installation on %s may)", rotation.ErrRejected, err, owner)
		}
		return rotation.Identity{}, fmt.Errorf("check token %s: %w", tok.Fingerprint(), err)
	}
	return rotation.Identity{Login: id.Login, ExpiresAt: id.ExpiresAt}, nil
}

// Revoke revokes tok, except the user token of the grant rotor holds:
// revoking it would end the refresh token too (they are one grant). That
// one ends at the next refresh.
func (s *Source) Revoke(ctx context.Context, tok token.Token) error {
	if tok.IsZero() {
		return nil
	}
	if g, err := s.grants.Grant(ctx, s.cfg.Credential); err == nil && g.State != grant.GrantLost && g.PairFingerprint == tok.Fingerprint() {
		return nil
	}
	return s.revoke(ctx, s.cfg.Credential, tok)
}
