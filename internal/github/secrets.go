package github

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"
	"golang.org/x/crypto/nacl/box"

	"github.com/rotor-ci/rotor/internal/token"
)

// Secret services: GitHub keeps Actions and Dependabot secrets apart, each
// with its own public keys.
const (
	SecretsActions    = "actions"
	SecretsDependabot = "dependabot"
)

// Secret levels, as SecretPlace.Level names them.
const (
	LevelRepo        = "repo"
	LevelEnvironment = "environment"
	LevelOrg         = "org"
)

var (
	// ErrImproperlyEncrypted: GitHub could not open the sealed value, again
	// after rotor fetched the public key anew (a key that changed between
	// the read and the write is retried before this is returned).
	ErrImproperlyEncrypted = errors.New("GitHub could not decrypt the secret's value")
	// ErrNoPermission: the token sees the place but may not do this there
	// (403).
	ErrNoPermission = errors.New("the token may not do this")
)

// SecretPlace names one secret: an organisation's, a repository's or a
// repository environment's, for Actions or Dependabot.
type SecretPlace struct {
	Service     string // SecretsActions (default) or SecretsDependabot
	Level       string // LevelRepo, LevelEnvironment or LevelOrg
	Owner       string // the organisation (LevelOrg) or the repository's owner
	Repo        string // LevelRepo and LevelEnvironment
	Environment string // LevelEnvironment
	Name        string
}

func (p SecretPlace) service() string {
	if p.Service == "" {
		return SecretsActions
	}
	return p.Service
}

// Path is the secret's REST path under the API root, which names it
// unambiguously: repos/acme/deploy/actions/secrets/GH_TOKEN,
// repos/acme/deploy/environments/production/secrets/GH_TOKEN,
// orgs/acme/dependabot/secrets/GH_TOKEN.
func (p SecretPlace) Path() string {
	switch p.Level {
	case LevelOrg:
		return fmt.Sprintf("orgs/%s/%s/secrets/%s", p.Owner, p.service(), p.Name)
	case LevelEnvironment:
		return fmt.Sprintf("repos/%s/%s/environments/%s/secrets/%s", p.Owner, p.Repo, p.Environment, p.Name)
	}
	return fmt.Sprintf("repos/%s/%s/%s/secrets/%s", p.Owner, p.Repo, p.service(), p.Name)
}

// String names the secret for people: "Actions secret GH_TOKEN of acme/deploy".
func (p SecretPlace) String() string {
	svc := "Actions"
	if p.service() == SecretsDependabot {
		svc = "Dependabot"
	}
	switch p.Level {
	case LevelOrg:
		return fmt.Sprintf("%s secret %s of organisation %s", svc, p.Name, p.Owner)
	case LevelEnvironment:
		return fmt.Sprintf("%s secret %s of %s/%s environment %s", svc, p.Name, p.Owner, p.Repo, p.Environment)
	}
	return fmt.Sprintf("%s secret %s of %s/%s", svc, p.Name, p.Owner, p.Repo)
}

func (p SecretPlace) check() error {
	switch {
	case p.service() != SecretsActions && p.service() != SecretsDependabot:
		return fmt.Errorf("secret service %q: want actions or dependabot", p.Service)
	case p.Level == LevelEnvironment && p.service() != SecretsActions:
		return errors.New("environments hold Actions secrets only")
	case p.Level != LevelRepo && p.Level != LevelEnvironment && p.Level != LevelOrg:
		return fmt.Errorf("secret level %q: want repo, environment or org", p.Level)
	}
	return nil
}

// SecretInfo is what GitHub shows of a secret: never its value.
type SecretInfo struct {
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Visibility of an organisation secret: all, private or selected.
	Visibility string
}

// OrgSecretAccess is which repositories may use an organisation secret.
// GitHub requires it with every write of one, so a writer sends back what
// it read.
type OrgSecretAccess struct {
	Visibility            string
	SelectedRepositoryIDs []int64 // visibility selected only
}

// Secret returns the secret's metadata. A secret that does not exist, or
// that the token cannot see, is ErrNotFound (GitHub answers both 404).
func (c *Client) Secret(ctx context.Context, auth token.Token, p SecretPlace) (SecretInfo, error) {
	if err := p.check(); err != nil {
		return SecretInfo{}, err
	}
	if auth.IsZero() {
		return SecretInfo{}, errEmptyToken
	}
	api := c.api(auth.Reveal())
	var s *gh.Secret
	var err error
	switch {
	case p.Level == LevelEnvironment:
		s, _, err = api.Actions.GetEnvSecret(ctx, p.Owner, p.Repo, p.Environment, p.Name)
	case p.Level == LevelOrg && p.service() == SecretsDependabot:
		s, _, err = api.Dependabot.GetOrgSecret(ctx, p.Owner, p.Name)
	case p.Level == LevelOrg:
		s, _, err = api.Actions.GetOrgSecret(ctx, p.Owner, p.Name)
	case p.service() == SecretsDependabot:
		s, _, err = api.Dependabot.GetRepoSecret(ctx, p.Owner, p.Repo, p.Name)
	default:
		s, _, err = api.Actions.GetRepoSecret(ctx, p.Owner, p.Repo, p.Name)
	}
	if err != nil {
		return SecretInfo{}, fmt.Errorf("read %s: %w", p, secretError(err))
	}
	return SecretInfo{Name: s.Name, CreatedAt: s.CreatedAt.Time, UpdatedAt: s.UpdatedAt.Time, Visibility: s.Visibility}, nil
}

// SelectedRepositoryIDs lists the repositories an organisation secret of
// visibility selected is given to.
func (c *Client) SelectedRepositoryIDs(ctx context.Context, auth token.Token, p SecretPlace) ([]int64, error) {
	if p.Level != LevelOrg {
		return nil, fmt.Errorf("%s: only organisation secrets have selected repositories", p)
	}
	if auth.IsZero() {
		return nil, errEmptyToken
	}
	api := c.api(auth.Reveal())
	opts := &gh.ListOptions{PerPage: 100}
	var ids []int64
	for {
		var list *gh.SelectedReposList
		var resp *gh.Response
		var err error
		if p.service() == SecretsDependabot {
			list, resp, err = api.Dependabot.ListSelectedReposForOrgSecret(ctx, p.Owner, p.Name, opts)
		} else {
			list, resp, err = api.Actions.ListSelectedReposForOrgSecret(ctx, p.Owner, p.Name, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("list the repositories of %s: %w", p, secretError(err))
		}
		for _, r := range list.Repositories {
			ids = append(ids, r.GetID())
		}
		if resp.NextPage == 0 {
			return ids, nil
		}
		opts.Page = resp.NextPage
	}
}

// maxSealAttempts bounds the tries of one secret write whose public key
// changes under it.
const maxSealAttempts = 3

// WriteSecret encrypts value for the place's current public key (a
// libsodium sealed box: nacl/box's anonymous sealing, which is what GitHub
// opens) and writes it with the key's id. When GitHub cannot open the box
// — the key changed between the read and the write — it fetches the key
// again and retries, a bounded number of times; a key that did not change
// is no reason to retry, and the error is ErrImproperlyEncrypted. An
// organisation secret needs access (sent back as the caller read it, so
// that its repositories stay as they are); other levels take nil.
// Idempotent: writing the same value twice leaves the secret as once
// (GitHub moves updated_at).
func (c *Client) WriteSecret(ctx context.Context, auth token.Token, p SecretPlace, value token.Token, access *OrgSecretAccess) error {
	if err := p.check(); err != nil {
		return err
	}
	if auth.IsZero() || value.IsZero() {
		return errEmptyToken
	}
	if (p.Level == LevelOrg) != (access != nil) {
		return fmt.Errorf("%s: organisation secrets, and only they, are written with their visibility", p)
	}
	api := c.api(auth.Reveal())
	var lastKey string
	for attempt := 1; ; attempt++ {
		keyID, pub, err := c.publicKey(ctx, api, p)
		if err != nil {
			return fmt.Errorf("read the public key for %s: %w", p, err)
		}
		if attempt > 1 && keyID == lastKey {
			return fmt.Errorf("write %s: %w (public key %s did not change, so the box itself was refused)", p, ErrImproperlyEncrypted, keyID)
		}
		lastKey = keyID
		sealed, err := box.SealAnonymous(nil, []byte(value.Reveal()), pub, rand.Reader)
		if err != nil {
			return fmt.Errorf("seal %s: %w", p, err)
		}
		err = c.putSecret(ctx, api, p, keyID, base64.StdEncoding.EncodeToString(sealed), access)
		if err == nil {
			return nil
		}
		if !improperlyEncrypted(err) {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if attempt == maxSealAttempts {
			return fmt.Errorf("write %s: %w: the public key changed %d times while rotor wrote", p, ErrImproperlyEncrypted, attempt)
		}
	}
}

func (c *Client) publicKey(ctx context.Context, api *gh.Client, p SecretPlace) (string, *[32]byte, error) {
	var k *gh.PublicKey
	var err error
	switch {
	case p.Level == LevelEnvironment:
		k, _, err = api.Actions.GetEnvPublicKey(ctx, p.Owner, p.Repo, p.Environment)
	case p.Level == LevelOrg && p.service() == SecretsDependabot:
		k, _, err = api.Dependabot.GetOrgPublicKey(ctx, p.Owner)
	case p.Level == LevelOrg:
		k, _, err = api.Actions.GetOrgPublicKey(ctx, p.Owner)
	case p.service() == SecretsDependabot:
		k, _, err = api.Dependabot.GetRepoPublicKey(ctx, p.Owner, p.Repo)
	default:
		k, _, err = api.Actions.GetRepoPublicKey(ctx, p.Owner, p.Repo)
	}
	if err != nil {
		return "", nil, secretError(err)
	}
	raw, err := base64.StdEncoding.DecodeString(k.GetKey())
	if err != nil || len(raw) != 32 || k.GetKeyID() == "" {
		return "", nil, errors.New("GitHub answered a public key that is not a base64 Curve25519 key with an id")
	}
	var pub [32]byte
	copy(pub[:], raw)
	return k.GetKeyID(), &pub, nil
}

func (c *Client) putSecret(ctx context.Context, api *gh.Client, p SecretPlace, keyID, sealed string, access *OrgSecretAccess) error {
	var err error
	req := gh.SecretRequest{KeyID: keyID, EncryptedValue: sealed}
	switch {
	case p.Level == LevelOrg:
		org := gh.SecretOrgRequest{KeyID: keyID, EncryptedValue: sealed, Visibility: access.Visibility}
		if access.Visibility == "selected" {
			org.SelectedRepositoryIDs = access.SelectedRepositoryIDs
		}
		if p.service() == SecretsDependabot {
			_, err = api.Dependabot.CreateOrUpdateOrgSecret(ctx, p.Owner, p.Name, org)
		} else {
			_, err = api.Actions.CreateOrUpdateOrgSecret(ctx, p.Owner, p.Name, org)
		}
	case p.Level == LevelEnvironment:
		_, err = api.Actions.CreateOrUpdateEnvSecret(ctx, p.Owner, p.Repo, p.Environment, p.Name, req)
	case p.service() == SecretsDependabot:
		_, err = api.Dependabot.CreateOrUpdateRepoSecret(ctx, p.Owner, p.Repo, p.Name, req)
	default:
		_, err = api.Actions.CreateOrUpdateRepoSecret(ctx, p.Owner, p.Repo, p.Name, req)
	}
	return secretError(err)
}

// improperlyEncrypted recognises GitHub's 422 for a box it cannot open
// ("Bad request - validation failed due to an improperly encrypted
// secret"): the sign that the public key changed.
func improperlyEncrypted(err error) bool {
	ae, ok := errors.AsType[*APIError](err)
	return ok && ae.Status == http.StatusUnprocessableEntity && strings.Contains(strings.ToLower(ae.Message), "improperly encrypted")
}

// Refused reports whether err is GitHub refusing a request (4xx other than
// rate limits): nothing was changed.
func Refused(err error) bool {
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrImproperlyEncrypted) {
		return errors.Is(err, ErrImproperlyEncrypted)
	}
	s := status(err)
	return s >= 400 && s < 500 && s != http.StatusTooManyRequests
}

// secretError sanitises err and maps the statuses callers branch on,
// keeping the API error (and so its status) inside.
func secretError(err error) error {
	if err == nil {
		return nil
	}
	err = sanitize(err)
	switch status(err) {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrBadCredentials, err)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case http.StatusForbidden:
		if !errors.Is(err, ErrRateLimited) {
			return fmt.Errorf("%w: %w", ErrNoPermission, err)
		}
	}
	return err
}

// OwnerRepositories lists the names of owner's repositories that auth can
// see: an organisation's through GET /orgs/{org}/repos, a user's through
// GET /user/repos (which lists private ones too) filtered to the owner,
// and an installation token's through GET /installation/repositories.
func (c *Client) OwnerRepositories(ctx context.Context, auth token.Token, owner string) ([]string, error) {
	if auth.IsZero() {
		return nil, errEmptyToken
	}
	api := c.api(auth.Reveal())
	var names []string
	keep := func(r *gh.Repository) {
		if strings.EqualFold(r.GetOwner().GetLogin(), owner) && !containsFold(names, r.GetName()) {
			names = append(names, r.GetName())
		}
	}
	if token.KindOf(auth.Reveal()) == token.KindInstallation {
		opts := &gh.ListOptions{PerPage: 100}
		for {
			list, resp, err := api.Apps.ListRepos(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list the installation's repositories: %w", secretError(err))
			}
			for _, r := range list.Repositories {
				keep(r)
			}
			if resp.NextPage == 0 {
				return names, nil
			}
			opts.Page = resp.NextPage
		}
	}
	orgOpts := &gh.RepositoryListByOrgOptions{Type: "all", ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		list, resp, err := api.Repositories.ListByOrg(ctx, owner, orgOpts)
		if err != nil {
			err = secretError(err)
			if errors.Is(err, ErrNotFound) && orgOpts.Page == 0 {
				break // not an organisation: a user
			}
			return nil, fmt.Errorf("list the repositories of %s: %w", owner, err)
		}
		for _, r := range list {
			keep(r)
		}
		if resp.NextPage == 0 {
			return names, nil
		}
		orgOpts.Page = resp.NextPage
	}
	userOpts := &gh.RepositoryListByAuthenticatedUserOptions{Affiliation: "owner,collaborator,organization_member", ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		list, resp, err := api.Repositories.ListByAuthenticatedUser(ctx, userOpts)
		if err != nil {
			return nil, fmt.Errorf("list the repositories of %s: %w", owner, secretError(err))
		}
		for _, r := range list {
			keep(r)
		}
		if resp.NextPage == 0 {
			return names, nil
		}
		userOpts.Page = resp.NextPage
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Environments lists the names of owner/repo's deployment environments
// (GET /repos/{owner}/{repo}/environments), each of which holds Actions
// secrets of its own. A repository the token cannot see is ErrNotFound,
// one whose environments it may not list ErrNoPermission.
func (c *Client) Environments(ctx context.Context, auth token.Token, owner, repo string) ([]string, error) {
	if auth.IsZero() {
		return nil, errEmptyToken
	}
	api := c.api(auth.Reveal())
	opts := &gh.EnvironmentListOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	var names []string
	for {
		list, resp, err := api.Repositories.ListEnvironments(ctx, owner, repo, opts)
		if err != nil {
			return nil, fmt.Errorf("list the environments of %s/%s: %w", owner, repo, secretError(err))
		}
		for _, e := range list.Environments {
			names = append(names, e.GetName())
		}
		if resp.NextPage == 0 {
			return names, nil
		}
		opts.Page = resp.NextPage
	}
}

// ListSecrets lists the secrets at p's level, service, owner and
// repository (p.Name is ignored): names and times, never values. A place
// the token cannot see is ErrNotFound, one it may not read ErrNoPermission.
func (c *Client) ListSecrets(ctx context.Context, auth token.Token, p SecretPlace) ([]SecretInfo, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if auth.IsZero() {
		return nil, errEmptyToken
	}
	api := c.api(auth.Reveal())
	opts := &gh.ListOptions{PerPage: 100}
	var out []SecretInfo
	for {
		var list *gh.Secrets
		var resp *gh.Response
		var err error
		switch {
		case p.Level == LevelEnvironment:
			list, resp, err = api.Actions.ListEnvSecrets(ctx, p.Owner, p.Repo, p.Environment, opts)
		case p.Level == LevelOrg && p.service() == SecretsDependabot:
			list, resp, err = api.Dependabot.ListOrgSecrets(ctx, p.Owner, opts)
		case p.Level == LevelOrg:
			list, resp, err = api.Actions.ListOrgSecrets(ctx, p.Owner, opts)
		case p.service() == SecretsDependabot:
			list, resp, err = api.Dependabot.ListRepoSecrets(ctx, p.Owner, p.Repo, opts)
		default:
			list, resp, err = api.Actions.ListRepoSecrets(ctx, p.Owner, p.Repo, opts)
		}
		if err != nil {
			q := p
			q.Name = "*"
			return nil, fmt.Errorf("list %s: %w", q, secretError(err))
		}
		for _, s := range list.Secrets {
			out = append(out, SecretInfo{Name: s.Name, CreatedAt: s.CreatedAt.Time, UpdatedAt: s.UpdatedAt.Time, Visibility: s.Visibility})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}
