package actionssecret

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// env is the GitHub emulator (under its conformance check) with
// organisation acme (owner alice), its repositories deploy (environment
// production, workflow check.yml whose job reads acme/app with
// secrets.GH_TOKEN), app and web, and alice's repository own.
type env struct {
	emu    *ghemu.Server
	url    string
	gh     *github.Client
	writer token.Token // alice's: repo and admin:org
	logs   *bytes.Buffer
	// before, when set, sees each request before the emulator does.
	mu     sync.Mutex
	before func(r *http.Request)
	// secrets are every token value the test made, for canary checks.
	secrets []token.Token
}

func newEnv(t *testing.T, workflows ...ghemu.WorkflowSpec) *env {
	t.Helper()
	return newEnvWith(t, nil, ghemu.Options{}, workflows...)
}

// newEnvWith is newEnv with apps in the world and the emulator's options.
func newEnvWith(t *testing.T, apps []ghemu.AppSpec, opts ghemu.Options, workflows ...ghemu.WorkflowSpec) *env {
	t.Helper()
	if len(workflows) == 0 {
		workflows = []ghemu.WorkflowSpec{{File: "check.yml", Job: ghemu.JobSpec{Secret: "GH_TOKEN", Reads: "acme/app"}}}
	}
	emu, err := ghemu.New(ghemu.World{
		Users: []ghemu.UserSpec{{Login: "alice"}, {Login: "bob"}},
		Orgs:  []ghemu.OrgSpec{{Login: "acme", Owners: []string{"alice"}, Members: []string{"bob"}}},
		Repos: []ghemu.RepoSpec{
			{Owner: "acme", Name: "deploy", Private: true, Environments: []string{"production"}, Workflows: workflows},
			{Owner: "acme", Name: "app", Private: true},
			{Owner: "acme", Name: "web", Private: true},
			{Owner: "alice", Name: "own", Private: true},
		},
		Apps: apps,
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{emu: emu, logs: &bytes.Buffer{}}
	inner := conformance.Wrap(t, "github", emu)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		f := e.before
		e.mu.Unlock()
		if f != nil {
			f(r)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.gh = githubtest.Client(t, srv.URL)
	e.writer = e.token(t, "alice", "repo", "admin:org")
	return e
}

// token creates a classic token of user in the emulator.
func (e *env) token(t *testing.T, user string, scopes ...string) token.Token {
	t.Helper()
	v, _, err := e.emu.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindClassic, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	tok := token.New(v.Reveal())
	e.secrets = append(e.secrets, tok)
	return tok
}

// rotated is a token the verify workflow's job can use: alice's, repo.
func (e *env) rotated(t *testing.T) token.Token { return e.token(t, "alice", "repo") }

func (e *env) setBefore(f func(r *http.Request)) {
	e.mu.Lock()
	e.before = f
	e.mu.Unlock()
}

// put writes a secret as a person would, through the same client.
func (e *env) put(t *testing.T, p github.SecretPlace, tok token.Token, access *github.OrgSecretAccess) {
	t.Helper()
	if err := e.gh.WriteSecret(context.Background(), e.writer, p, tok, access); err != nil {
		t.Fatal(err)
	}
}

// repoID asks GitHub for a repository's id, as a person's tool would.
func (e *env) repoID(t *testing.T, owner, name string) int64 {
	t.Helper()
	u := e.url + "/"
	c, err := gh.NewClient(gh.WithAuthToken(e.writer.Reveal()), gh.WithURLs(&u, &u))
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := c.Repositories.Get(context.Background(), owner, name)
	if err != nil {
		t.Fatal(err)
	}
	return r.GetID()
}

// stored is the emulator's record of the secret at p (fingerprint, access).
func (e *env) stored(t *testing.T, p github.SecretPlace) (ghemu.SecretInfo, bool) {
	t.Helper()
	svc := p.Service
	if svc == "" {
		svc = ghemu.ServiceActions
	}
	level := map[string]string{github.LevelRepo: ghemu.LevelRepo, github.LevelEnvironment: ghemu.LevelEnvironment, github.LevelOrg: ghemu.LevelOrg}[p.Level]
	for _, s := range e.emu.Secrets() {
		if s.Service == svc && s.Level == level && strings.EqualFold(s.Account, p.Owner) && strings.EqualFold(s.Repo, p.Repo) &&
			strings.EqualFold(s.Environment, p.Environment) && strings.EqualFold(s.Name, p.Name) {
			return s, true
		}
	}
	return ghemu.SecretInfo{}, false
}

func (e *env) holds(t *testing.T, b rotation.Binding) string {
	t.Helper()
	s, ok := e.stored(t, placeOf(b))
	if !ok {
		t.Fatalf("%s: no such secret in the emulator", b.ID)
	}
	return s.Fingerprint
}

// target builds a target over the emulator, writing with e.writer and
// logging into e.logs.
func (e *env) target(t *testing.T, c Config) *Target {
	t.Helper()
	c.GitHub = e.gh
	if c.Auth == nil && c.App == nil {
		c.Auth = func(context.Context) (token.Token, error) { return e.writer, nil }
	}
	c.Log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if c.Workflow.Poll == 0 {
		c.Workflow.Poll = 10 * time.Millisecond
	}
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func repoPlace(owner, repo string) github.SecretPlace {
	return github.SecretPlace{Service: github.SecretsActions, Level: github.LevelRepo, Owner: owner, Repo: repo, Name: "GH_TOKEN"}
}

// run calls an Apply-like method and returns the results by binding.
func run(t *testing.T, f func(context.Context, token.Token, []rotation.Binding, func(rotation.Result)), tok token.Token, bs []rotation.Binding) map[string]rotation.Result {
	t.Helper()
	var mu sync.Mutex
	out := map[string]rotation.Result{}
	f(context.Background(), tok, bs, func(r rotation.Result) {
		mu.Lock()
		defer mu.Unlock()
		out[r.BindingID] = r
	})
	if len(out) != len(bs) {
		t.Fatalf("%d results for %d bindings", len(out), len(bs))
	}
	return out
}

func discover(t *testing.T, tg *Target) []rotation.Binding {
	t.Helper()
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// noSecrets fails when any text holds a token value the test made.
func (e *env) noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	texts = append(texts, e.logs.String())
	for _, s := range texts {
		for _, tok := range append(e.secrets, e.writer) {
			if strings.Contains(s, tok.Reveal()) {
				t.Fatalf("a token's value appears in %q", s)
			}
		}
	}
}
