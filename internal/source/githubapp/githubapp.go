package githubapp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Type is the source's name in rotor.yaml.
const Type = "github-app"

// Config is one credential's github-app source, as rotor.yaml gives it.
type Config struct {
	AppID          int64
	ClientID       string // preferred as the JWT issuer when set
	InstallationID int64
	PrivateKeyFile string // PEM (PKCS#1 or PKCS#8), mode 0600
	Repositories   []string
	Permissions    map[string]string
	// Now is the clock for JWTs and expiry checks; nil means time.Now.
	Now func() time.Time
}

// Source mints installation tokens. Safe for concurrent use.
type Source struct {
	cfg Config
	gh  *github.Client
	app *github.App

	mu   sync.Mutex
	slug string // the app's slug, once GitHub told it
}

var _ rotation.Source = (*Source)(nil)

// New loads the app's private key, refusing a file that others can read,
// and returns the source.
func New(cfg Config, gh *github.Client) (*Source, error) {
	if cfg.AppID == 0 && cfg.ClientID == "" {
		return nil, errors.New("github-app: need app_id or client_id")
	}
	if cfg.InstallationID <= 0 {
		return nil, errors.New("github-app: need installation_id")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	app, err := github.LoadApp(cfg.AppID, cfg.ClientID, cfg.PrivateKeyFile, cfg.Now)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, gh: gh, app: app}, nil
}

// Type implements rotation.Source.
func (s *Source) Type() string { return Type }

// JWT signs the app's JWT (github.App.JWT).
func (s *Source) JWT() (string, error) { return s.app.JWT() }

// Mint creates an installation token narrowed to the configured
// repositories and permissions. Every call makes a live token.
func (s *Source) Mint(ctx context.Context, _ rotation.Requirements) (rotation.Minted, error) {
	appJWT, err := s.JWT()
	if err != nil {
		return rotation.Minted{}, err
	}
	// The request creates a live token: it runs to its answer even if
	// ctx ends meanwhile (rotation.Detached).
	dctx, cancel := rotation.Detached(ctx)
	defer cancel()
	tok, exp, err := s.gh.CreateInstallationToken(dctx, appJWT, s.cfg.InstallationID, s.cfg.Repositories, s.cfg.Permissions)
	if err != nil {
		return rotation.Minted{}, fmt.Errorf("mint: %w", err)
	}
	return rotation.Minted{Token: tok, ExpiresAt: exp, ByRotor: true}, nil
}

// Check proves tok is a live installation token that can read every
// repository the bindings need and lives long enough.
func (s *Source) Check(ctx context.Context, tok token.Token, req rotation.Requirements) (rotation.Identity, error) {
	tok, kind, err := token.Parse(tok.Reveal())
	if err != nil {
		return rotation.Identity{}, fmt.Errorf("%w: %w", rotation.ErrRejected, err)
	}
	if kind != token.KindInstallation {
		return rotation.Identity{}, fmt.Errorf("%w: this is a %s, not a GitHub App installation token", rotation.ErrRejected, kind.Describe())
	}
	id, err := s.gh.Identify(ctx, tok)
	if err != nil {
		if errors.Is(err, github.ErrBadCredentials) {
			return rotation.Identity{}, fmt.Errorf("%w: %w", rotation.ErrRejected, github.ErrBadCredentials)
		}
		return rotation.Identity{}, fmt.Errorf("check token %s: %w", tok.Fingerprint(), err)
	}
	if !id.ExpiresAt.IsZero() {
		if left := id.ExpiresAt.Sub(s.cfg.Now()); left < req.MinValidity {
			return rotation.Identity{}, fmt.Errorf("%w: the installation token expires in %s, sooner than the %s rotor needs",
				rotation.ErrRejected, left.Round(time.Second), req.MinValidity)
		}
	}
	if full, err := s.gh.FirstUnreadable(ctx, tok, req.Repositories); err != nil {
		if errors.Is(err, github.ErrNoAccess) {
			_, repo, _ := strings.Cut(full, "/")
			hint := "install the app on that repository"
			if len(s.cfg.Repositories) > 0 && !slices.Contains(s.cfg.Repositories, repo) {
				hint = fmt.Sprintf("add %s to the source's repositories in rotor.yaml (and to the app's installation)", repo)
			}
			return rotation.Identity{}, fmt.Errorf("%w: the installation token cannot read %s: %s", rotation.ErrRejected, full, hint)
		}
		if errors.Is(err, github.ErrBadCredentials) {
			return rotation.Identity{}, fmt.Errorf("%w: %w", rotation.ErrRejected, err)
		}
		return rotation.Identity{}, fmt.Errorf("check token %s: %w", tok.Fingerprint(), err)
	}
	return rotation.Identity{Login: s.login(ctx), ExpiresAt: id.ExpiresAt}, nil
}

// login names the installation as rotation.Identity does:
// app/<slug>/installation/<id>. The slug is asked of GitHub once; until it
// answers, the app id (or client id) stands in for it.
func (s *Source) login(ctx context.Context) string {
	s.mu.Lock()
	slug := s.slug
	s.mu.Unlock()
	if slug == "" {
		if appJWT, err := s.JWT(); err == nil {
			if got, err := s.gh.AppSlug(ctx, appJWT); err == nil && got != "" {
				s.mu.Lock()
				s.slug, slug = got, got
				s.mu.Unlock()
			}
		}
	}
	if slug == "" {
		slug = s.cfg.ClientID
		if slug == "" {
			slug = strconv.FormatInt(s.cfg.AppID, 10)
		}
	}
	return fmt.Sprintf("app/%s/installation/%d", slug, s.cfg.InstallationID)
}

// Revoke revokes an installation token with itself. Idempotent: a token
// GitHub already refuses counts as revoked.
func (s *Source) Revoke(ctx context.Context, tok token.Token) error {
	if tok.IsZero() {
		return nil
	}
	return s.gh.RevokeInstallationToken(ctx, tok)
}
