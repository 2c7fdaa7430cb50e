package actionssecret

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Type is the target's name in the config.
const Type = "github-actions-secret"

// Verify modes.
const (
	VerifyUpdatedAt = "updated_at" // the default: GitHub's updated_at is rotor's write
	VerifyWorkflow  = "workflow"   // that, and a dispatched workflow's run succeeds
)

// Binding attributes: where the secret is (enough to find it again when a
// run resumes in another process) and its updated_at when discovered.
const (
	AttrService     = "service" // actions or dependabot
	AttrLevel       = "level"   // repo, environment or org
	AttrOwner       = "owner"   // the organisation, or the repository's owner
	AttrRepo        = "repo"
	AttrEnvironment = "environment"
	AttrName        = "name"
	AttrUpdatedAt   = "updated_at" // RFC 3339, by GitHub's clock; empty for a secret still to create
	AttrVisibility  = "visibility" // organisation secrets
)

// Errors callers branch on.
var (
	// ErrSecretNotFound: a named secret does not exist (or the target's
	// token cannot see it). rotor creates secrets only with create: true.
	ErrSecretNotFound = errors.New("secret not found")
	// ErrNoSecret: match found no repository with the secret.
	ErrNoSecret = errors.New("no repository has the secret")
	// ErrChanged: the secret was written again after rotor wrote it.
	ErrChanged = errors.New("the secret was written by someone else after rotor")
	// ErrNotWritten: GitHub shows no write of the secret since discovery.
	ErrNotWritten = errors.New("GitHub shows no write of the secret since rotor found it")
	// ErrWorkflowFailed: the verify workflow's run did not succeed (or did
	// not finish in time).
	ErrWorkflowFailed = errors.New("the verify workflow did not succeed")
)

// Match selects every repository of an owner that the target's token can
// see; Repo, when set, narrows it to one name (case-insensitive).
type Match struct {
	Owner string
	Repo  string
}

// Workflow is the check that verify: workflow dispatches.
type Workflow struct {
	File string // the workflow's file name, e.g. check-token.yml
	Ref  string // the branch or tag to run it on
	// Repository ("owner/name") runs the workflow there for every
	// binding; empty: in each binding's own repository (an organisation
	// secret needs one).
	Repository string
	// Timeout bounds the wait for one run (default 10m); Poll is how often
	// its status is read (default 5s).
	Timeout time.Duration
	Poll    time.Duration
}

// Config is one github-actions-secret target.
type Config struct {
	GitHub *github.Client
	// Auth returns the token the target reads and writes secrets with
	// (repo scope, or the secrets permission, on each repository;
	// admin:org or organization_secrets for an organisation secret). It
	// is called for each operation, so a rotated file is picked up.
	Auth func(ctx context.Context) (token.Token, error)
	// App, instead of Auth: the target writes as this GitHub App's
	// installation, with installation tokens narrowed to what the target
	// needs (AppPermissions, AppRepositories), each used until it has
	// less than github.RenewWithin of its life left.
	App *App

	Name         string   // the secret's name
	Dependabot   bool     // Dependabot secrets instead of Actions secrets
	Repositories []string // "owner/name": each repository's secret
	Environment  string   // with Repositories or Match: that environment's secret instead
	Organization string   // the organisation's secret
	Match        *Match   // the secret in every repository of an owner
	Create       bool     // create named repository or environment secrets that are missing

	Verify      string // VerifyUpdatedAt (default) or VerifyWorkflow
	Workflow    Workflow
	Concurrency int // writes at once (default 4)
	Log         *slog.Logger
}

// App is a GitHub App installation the target writes as.
type App struct {
	App            *github.App
	InstallationID int64
}

// Target keeps a token in GitHub secrets. Safe for concurrent use.
type Target struct {
	c    Config
	host string
	log  *slog.Logger

	mu sync.Mutex
	// written is this process's last write of each binding (by ID): the
	// token's fingerprint and GitHub's updated_at for it, what Verify
	// expects to see.
	written map[string]write
}

type write struct {
	fingerprint string
	updatedAt   time.Time
}

var (
	_ rotation.Target    = (*Target)(nil)
	_ rotation.Inspector = (*Target)(nil)
)

// secretName is what GitHub accepts ("Naming your secrets").
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New checks c and builds the target. It calls no GitHub API; Discover does.
func New(c Config) (*Target, error) {
	if c.GitHub == nil || (c.Auth == nil) == (c.App == nil) {
		return nil, errors.New("github-actions-secret: a GitHub client and a token or an app (one of them) to write with are required")
	}
	if err := CheckName(c.Name); err != nil {
		return nil, err
	}
	c.Name = strings.ToUpper(c.Name)
	if len(c.Repositories) == 0 && c.Organization == "" && c.Match == nil {
		return nil, errors.New("github-actions-secret: name repositories, an organization, or match an owner")
	}
	for _, r := range c.Repositories {
		if _, _, ok := splitRepo(r); !ok {
			return nil, fmt.Errorf("github-actions-secret: repository %q: want owner/name", r)
		}
	}
	if c.Match != nil && c.Match.Owner == "" {
		return nil, errors.New("github-actions-secret: match needs an owner")
	}
	if c.Dependabot && c.Environment != "" {
		return nil, errors.New("github-actions-secret: environments hold Actions secrets only, not Dependabot secrets")
	}
	switch c.Verify {
	case "":
		c.Verify = VerifyUpdatedAt
	case VerifyUpdatedAt:
	case VerifyWorkflow:
		if c.Workflow.File == "" || c.Workflow.Ref == "" {
			return nil, errors.New("github-actions-secret: verify: workflow needs the workflow's file and ref")
		}
		if c.Workflow.Repository != "" {
			if _, _, ok := splitRepo(c.Workflow.Repository); !ok {
				return nil, fmt.Errorf("github-actions-secret: workflow repository %q: want owner/name", c.Workflow.Repository)
			}
		} else if c.Organization != "" {
			return nil, errors.New("github-actions-secret: verify: workflow of an organisation secret needs the repository to run the workflow in")
		}
	default:
		return nil, fmt.Errorf("github-actions-secret: verify %q: want updated_at or workflow", c.Verify)
	}
	if c.Workflow.Timeout <= 0 {
		c.Workflow.Timeout = 10 * time.Minute
	}
	if c.Workflow.Poll <= 0 {
		c.Workflow.Poll = 5 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.App != nil {
		c.Auth = c.GitHub.InstallationTokens(c.App.App, c.App.InstallationID, AppRepositories(c), AppPermissions(c)).Token
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := "github"
	if u, err := url.Parse(c.GitHub.BaseURL()); err == nil && u.Host != "" {
		host = strings.TrimSuffix(u.Host+u.Path, "/")
	}
	return &Target{c: c, host: host, log: log.With("target", Type, "secret", c.Name), written: map[string]write{}}, nil
}

// AppPermissions are the permissions an app installation token needs to
// do all that a target configured by c does, by GitHub's "Permissions
// required for GitHub Apps": the secrets' own permission (write, which
// reads too), environments for environment secrets, actions to dispatch
// and read a verify workflow, and metadata, which every token has.
func AppPermissions(c Config) map[string]string {
	p := map[string]string{"metadata": "read"}
	if len(c.Repositories) > 0 || c.Match != nil {
		if c.Dependabot {
			p["dependabot_secrets"] = "write"
		} else {
			p["secrets"] = "write"
		}
		if c.Environment != "" {
			p["environments"] = "write"
		}
	}
	if c.Organization != "" {
		if c.Dependabot {
			p["organization_dependabot_secrets"] = "write"
		} else {
			p["organization_secrets"] = "write"
		}
	}
	if c.Verify == VerifyWorkflow {
		p["actions"] = "write"
	}
	return p
}

// AppRepositories are the repositories (names, without owner) an app
// installation token is narrowed to: the named ones and the verify
// workflow's, or none (all the installation has) when the target matches
// an owner's repositories or writes an organisation secret, which reach
// beyond named repositories.
func AppRepositories(c Config) []string {
	if c.Match != nil || c.Organization != "" {
		return nil
	}
	var out []string
	for _, r := range append(slices.Clone(c.Repositories), c.Workflow.Repository) {
		if _, name, ok := splitRepo(r); ok && !slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, name) }) {
			out = append(out, name)
		}
	}
	return out
}

// CheckName checks a secret's name as GitHub does: letters, digits and
// underscores, not a digit first, not GITHUB_ first.
func CheckName(name string) error {
	if !secretName.MatchString(name) || strings.HasPrefix(strings.ToUpper(name), "GITHUB_") {
		return fmt.Errorf("github-actions-secret: name %q: GitHub allows letters, digits and _, not a digit first and not GITHUB_ first", name)
	}
	return nil
}

func (t *Target) Type() string { return Type }

func (t *Target) service() string {
	if t.c.Dependabot {
		return github.SecretsDependabot
	}
	return github.SecretsActions
}

// BindingID is "github-actions-secret:<api host>/<the secret's REST path>",
// e.g. github-actions-secret:api.github.com/repos/acme/deploy/actions/secrets/GH_TOKEN.
func (t *Target) BindingID(p github.SecretPlace) string { return Type + ":" + t.host + "/" + p.Path() }

func (t *Target) binding(p github.SecretPlace, info github.SecretInfo, found bool) rotation.Binding {
	b := rotation.Binding{
		ID:       t.BindingID(p),
		Target:   Type,
		Resource: p.String(),
		Attrs: map[string]string{
			AttrService: p.Service, AttrLevel: p.Level, AttrOwner: p.Owner, AttrRepo: p.Repo,
			AttrEnvironment: p.Environment, AttrName: p.Name,
		},
	}
	if found {
		b.Attrs[AttrUpdatedAt] = info.UpdatedAt.UTC().Format(time.RFC3339Nano)
	} else {
		b.Warnings = append(b.Warnings, fmt.Sprintf("%s does not exist yet: the first rotation creates it (create: true)", p))
	}
	if p.Level == github.LevelOrg {
		b.Attrs[AttrVisibility] = info.Visibility
		switch info.Visibility {
		case "all":
			b.Warnings = append(b.Warnings, fmt.Sprintf("%s is visible to every repository of %s, public ones included: the token is in reach of each of their workflows", p, p.Owner))
		case "private":
			b.Warnings = append(b.Warnings, fmt.Sprintf("%s is visible to every private repository of %s", p, p.Owner))
		}
	}
	if t.c.Verify != VerifyWorkflow {
		b.Warnings = append(b.Warnings, "GitHub never shows a secret's value: rotor verifies the write by the secret's updated_at only; consider verify: workflow")
	}
	return b
}

// placeOf rebuilds a binding's secret from its attributes, so that a run
// resumed in another process finds it.
func placeOf(b rotation.Binding) github.SecretPlace {
	a := b.Attrs
	return github.SecretPlace{Service: a[AttrService], Level: a[AttrLevel], Owner: a[AttrOwner], Repo: a[AttrRepo], Environment: a[AttrEnvironment], Name: a[AttrName]}
}

func splitRepo(s string) (owner, name string, ok bool) {
	owner, name, ok = strings.Cut(s, "/")
	return owner, name, ok && owner != "" && name != "" && !strings.Contains(name, "/")
}

// auth returns the target's own token.
func (t *Target) auth(ctx context.Context) (token.Token, error) {
	tok, err := t.c.Auth(ctx)
	if err != nil {
		return token.Token{}, fmt.Errorf("the target's GitHub token: %w", err)
	}
	if tok.IsZero() {
		return token.Token{}, errors.New("the target's GitHub token is empty")
	}
	return tok, nil
}

// each runs fn for every binding, at most Concurrency at once, and reports
// each result as it comes.
func (t *Target) each(bindings []rotation.Binding, report func(rotation.Result), fn func(rotation.Binding) rotation.Result) {
	sem := make(chan struct{}, t.c.Concurrency)
	var wg sync.WaitGroup
	for _, b := range bindings {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := fn(b)
			r.BindingID = b.ID
			report(r)
		})
	}
	wg.Wait()
}

// Apply writes tok into each secret, an organisation secret with the
// access it has now. Idempotent.
func (t *Target) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	auth, err := t.auth(ctx)
	t.each(bindings, report, func(b rotation.Binding) rotation.Result {
		if err != nil {
			return rotation.Result{Err: t.result(err, b), Unchanged: true}
		}
		err := t.apply(ctx, auth, tok, b)
		return rotation.Result{Err: t.result(err, b, tok, auth), Unchanged: err != nil && github.Refused(err)}
	})
}

func (t *Target) apply(ctx context.Context, auth, tok token.Token, b rotation.Binding) error {
	p := placeOf(b)
	var access *github.OrgSecretAccess
	if p.Level == github.LevelOrg {
		// Read just before the write: GitHub requires the visibility with
		// every write, and one sent from an older read would undo a
		// change a person made since.
		info, err := t.c.GitHub.Secret(ctx, auth, p)
		if err != nil {
			return err
		}
		access = &github.OrgSecretAccess{Visibility: info.Visibility}
		if info.Visibility == "selected" {
			if access.SelectedRepositoryIDs, err = t.c.GitHub.SelectedRepositoryIDs(ctx, auth, p); err != nil {
				return err
			}
		}
	}
	if err := t.c.GitHub.WriteSecret(ctx, auth, p, tok, access); err != nil {
		return err
	}
	info, err := t.c.GitHub.Secret(ctx, auth, p)
	if err != nil {
		return fmt.Errorf("read %s after writing it: %w", p, err)
	}
	t.mu.Lock()
	t.written[b.ID] = write{tok.Fingerprint(), info.UpdatedAt}
	t.mu.Unlock()
	t.log.InfoContext(ctx, "secret written", "binding", b.ID, "updated_at", info.UpdatedAt, "fingerprint", tok.Fingerprint())
	return nil
}

// Verify checks each secret's updated_at against rotor's write and, with
// verify: workflow, runs the workflow and waits for it to succeed.
// Read-only except for the workflow runs it starts.
func (t *Target) Verify(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	auth, err := t.auth(ctx)
	if err != nil {
		for _, b := range bindings {
			report(rotation.Result{BindingID: b.ID, Err: err})
		}
		return
	}
	var mu sync.Mutex
	var passed []rotation.Binding
	t.each(bindings, func(r rotation.Result) {
		if r.Err != nil || t.c.Verify != VerifyWorkflow {
			report(r)
		}
	}, func(b rotation.Binding) rotation.Result {
		err := t.checkWritten(ctx, auth, tok, b)
		if err == nil {
			mu.Lock()
			passed = append(passed, b)
			mu.Unlock()
		}
		return rotation.Result{Err: t.result(err, b, tok, auth)}
	})
	if t.c.Verify == VerifyWorkflow {
		t.runWorkflows(ctx, auth, tok, passed, report)
	}
}

// checkWritten compares the secret's updated_at, by GitHub's clock, with
// the one GitHub gave rotor's last write, which must have been of tok;
// without that record (a run resumed by another process) it must be later
// than when the secret was discovered (a write in the same second as the
// discovery cannot be told from none, and fails: the safe side).
func (t *Target) checkWritten(ctx context.Context, auth, tok token.Token, b rotation.Binding) error {
	p := placeOf(b)
	info, err := t.c.GitHub.Secret(ctx, auth, p)
	if err != nil {
		return err
	}
	t.mu.Lock()
	last, ok := t.written[b.ID]
	t.mu.Unlock()
	if ok {
		if last.fingerprint != tok.Fingerprint() {
			return fmt.Errorf("%w: rotor last wrote %s into %s, not %s", ErrNotWritten, last.fingerprint, p, tok.Fingerprint())
		}
		if info.UpdatedAt.After(last.updatedAt) {
			return fmt.Errorf("%w: GitHub shows %s written at %s, rotor wrote it at %s", ErrChanged, p, stamp(info.UpdatedAt), stamp(last.updatedAt))
		}
		return nil
	}
	if before, err := time.Parse(time.RFC3339Nano, b.Attrs[AttrUpdatedAt]); err == nil && !info.UpdatedAt.After(before) {
		return fmt.Errorf("%w: %s was last written at %s, as when rotor found it", ErrNotWritten, p, stamp(info.UpdatedAt))
	}
	return nil
}

// runWorkflows dispatches the verify workflow once per repository it runs
// in and reports each binding with its run's outcome.
func (t *Target) runWorkflows(ctx context.Context, auth, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	groups := map[string][]rotation.Binding{}
	var order []string
	for _, b := range bindings {
		repo := t.c.Workflow.Repository
		if repo == "" {
			repo = b.Attrs[AttrOwner] + "/" + b.Attrs[AttrRepo]
		}
		if groups[repo] == nil {
			order = append(order, repo)
		}
		groups[repo] = append(groups[repo], b)
	}
	var wg sync.WaitGroup
	for _, repo := range order {
		wg.Go(func() {
			err := t.runWorkflow(ctx, auth, repo)
			for _, b := range groups[repo] {
				report(rotation.Result{BindingID: b.ID, Err: t.result(err, b, tok, auth)})
			}
		})
	}
	wg.Wait()
}

func (t *Target) runWorkflow(ctx context.Context, auth token.Token, repo string) error {
	owner, name, ok := splitRepo(repo)
	if !ok {
		return fmt.Errorf("%w: no repository to run workflow %s in", ErrWorkflowFailed, t.c.Workflow.File)
	}
	id, err := t.c.GitHub.DispatchWorkflow(ctx, auth, owner, name, t.c.Workflow.File, t.c.Workflow.Ref)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWorkflowFailed, err)
	}
	wctx, cancel := context.WithTimeout(ctx, t.c.Workflow.Timeout)
	defer cancel()
	run, err := t.c.GitHub.WaitWorkflowRun(wctx, auth, owner, name, id, t.c.Workflow.Poll)
	switch {
	case err != nil && ctx.Err() == nil && wctx.Err() != nil:
		return fmt.Errorf("%w: run %d of workflow %s in %s did not finish within %s (%s)", ErrWorkflowFailed, id, t.c.Workflow.File, repo, t.c.Workflow.Timeout, run.HTMLURL)
	case err != nil:
		return fmt.Errorf("%w: workflow %s in %s: %w", ErrWorkflowFailed, t.c.Workflow.File, repo, err)
	}
	t.log.InfoContext(ctx, "verify workflow succeeded", "repository", repo, "run", id)
	return nil
}

// Inspect reports, read-only, whether each secret still exists: GitHub
// shows nothing else of it without running a workflow.
func (t *Target) Inspect(ctx context.Context, bindings []rotation.Binding, report func(rotation.Result)) {
	auth, err := t.auth(ctx)
	t.each(bindings, report, func(b rotation.Binding) rotation.Result {
		if err != nil {
			return rotation.Result{Err: err}
		}
		_, err := t.c.GitHub.Secret(ctx, auth, placeOf(b))
		return rotation.Result{Err: t.result(err, b, token.Token{}, auth)}
	})
}

// result names the binding and withholds an error whose text would hold a
// token. The GitHub client's errors never hold one, so this is a last
// guard, not the mechanism.
func (t *Target) result(err error, b rotation.Binding, toks ...token.Token) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", b.ID, err)
	for _, tok := range toks {
		if !tok.IsZero() && strings.Contains(err.Error(), tok.Reveal()) {
			return fmt.Errorf("%s: error withheld: its text held a token", b.ID)
		}
	}
	return err
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
