package actionssecret

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/rotation/targettest"
	"github.com/rotor-ci/rotor/internal/token"
)

// TestContract runs the contract every target keeps against the GitHub
// emulator: repository, environment, organisation and Dependabot secrets.
func TestContract(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   Config
		seeds func(e *env) []github.SecretPlace
		org   bool
	}{
		{name: "repository and organisation secrets", cfg: Config{Repositories: []string{"acme/deploy", "alice/own"}, Organization: "acme"}, org: true,
			seeds: func(*env) []github.SecretPlace {
				return []github.SecretPlace{repoPlace("acme", "deploy"), repoPlace("alice", "own")}
			}},
		{name: "environment secrets", cfg: Config{Repositories: []string{"acme/deploy"}, Environment: "production"},
			seeds: func(*env) []github.SecretPlace {
				p := repoPlace("acme", "deploy")
				p.Level, p.Environment = github.LevelEnvironment, "production"
				return []github.SecretPlace{p}
			}},
		{name: "dependabot secrets", cfg: Config{Repositories: []string{"acme/app"}, Organization: "acme", Dependabot: true}, org: true,
			seeds: func(*env) []github.SecretPlace {
				p := repoPlace("acme", "app")
				p.Service = github.SecretsDependabot
				return []github.SecretPlace{p}
			}},
		{name: "match an owner", cfg: Config{Match: &Match{Owner: "acme"}},
			seeds: func(*env) []github.SecretPlace {
				return []github.SecretPlace{repoPlace("acme", "deploy"), repoPlace("acme", "web")}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.cfg.Name = "GH_TOKEN"
			targettest.Run(t, targettest.Harness{
				New: func(t *testing.T, prev token.Token) rotation.Target {
					for _, p := range tt.seeds(e) {
						e.put(t, p, prev, nil)
					}
					if tt.org {
						p := github.SecretPlace{Service: github.SecretsActions, Level: github.LevelOrg, Owner: "acme", Name: "GH_TOKEN"}
						if tt.cfg.Dependabot {
							p.Service = github.SecretsDependabot
						}
						e.put(t, p, prev, &github.OrgSecretAccess{Visibility: "selected", SelectedRepositoryIDs: []int64{e.repoID(t, "acme", "web")}})
					}
					return e.target(t, tt.cfg)
				},
				Holds: e.holds,
				Token: e.rotated,
			})
		})
	}
}

func TestDiscover(t *testing.T) {
	e := newEnv(t)
	tok := e.rotated(t)
	e.put(t, repoPlace("acme", "deploy"), tok, nil)
	e.put(t, repoPlace("acme", "app"), tok, nil)
	org := github.SecretPlace{Level: github.LevelOrg, Owner: "acme", Name: "GH_TOKEN"}
	e.put(t, org, tok, &github.OrgSecretAccess{Visibility: "all"})

	t.Run("named", func(t *testing.T) {
		bs := discover(t, e.target(t, Config{Name: "gh_token", Repositories: []string{"acme/deploy"}, Organization: "acme"}))
		var ids []string
		for _, b := range bs {
			ids = append(ids, strings.TrimPrefix(b.ID, Type+":"+strings.TrimPrefix(e.url, "http://")))
		}
		if want := []string{"/repos/acme/deploy/actions/secrets/GH_TOKEN", "/orgs/acme/actions/secrets/GH_TOKEN"}; !slices.Equal(ids, want) {
			t.Errorf("bindings %v, want %v", ids, want)
		}
		if bs[1].Attrs[AttrVisibility] != "all" || !strings.Contains(strings.Join(bs[1].Warnings, "\n"), "visible to every repository of acme") {
			t.Errorf("organisation binding %+v does not warn about visibility all", bs[1])
		}
		if bs[0].Attrs[AttrUpdatedAt] == "" || !strings.Contains(strings.Join(bs[0].Warnings, "\n"), "consider verify: workflow") {
			t.Errorf("repository binding %+v: want its updated_at and the verify advice", bs[0])
		}
	})
	t.Run("missing named secret", func(t *testing.T) {
		_, err := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/web"}}).Discover(context.Background())
		if !errors.Is(err, ErrSecretNotFound) || !strings.Contains(err.Error(), "repos/acme/web/actions/secrets/GH_TOKEN") {
			t.Fatalf("Discover = %v, want ErrSecretNotFound naming acme/web", err)
		}
	})
	t.Run("create a missing secret", func(t *testing.T) {
		tg := e.target(t, Config{Name: "NEW_TOKEN", Repositories: []string{"acme/web"}, Create: true})
		bs := discover(t, tg)
		if len(bs) != 1 || !strings.Contains(bs[0].Warnings[0], "does not exist yet") {
			t.Fatalf("bindings %+v, want one to create", bs)
		}
		fresh := e.rotated(t)
		if r := run(t, tg.Apply, fresh, bs)[bs[0].ID]; r.Err != nil {
			t.Fatal(r.Err)
		}
		if got := e.holds(t, bs[0]); got != fresh.Fingerprint() {
			t.Errorf("created secret holds %s, want %s", got, fresh.Fingerprint())
		}
		if r := run(t, tg.Verify, fresh, bs)[bs[0].ID]; r.Err != nil {
			t.Fatal(r.Err)
		}
	})
	t.Run("match", func(t *testing.T) {
		bs := discover(t, e.target(t, Config{Name: "GH_TOKEN", Match: &Match{Owner: "ACME"}}))
		var repos []string
		for _, b := range bs {
			repos = append(repos, b.Attrs[AttrRepo])
		}
		if want := []string{"deploy", "app"}; !slices.Equal(repos, want) {
			t.Errorf("matched %v, want %v (web has no GH_TOKEN)", repos, want)
		}
		bs = discover(t, e.target(t, Config{Name: "GH_TOKEN", Match: &Match{Owner: "acme", Repo: "APP"}}))
		if len(bs) != 1 || bs[0].Attrs[AttrRepo] != "app" {
			t.Errorf("match repo app: %+v", bs)
		}
		_, err := e.target(t, Config{Name: "OTHER", Match: &Match{Owner: "acme"}}).Discover(context.Background())
		if !errors.Is(err, ErrNoSecret) {
			t.Errorf("match without any secret: %v, want ErrNoSecret", err)
		}
	})
	t.Run("match a user", func(t *testing.T) {
		e.put(t, repoPlace("alice", "own"), tok, nil)
		bs := discover(t, e.target(t, Config{Name: "GH_TOKEN", Match: &Match{Owner: "alice"}}))
		if len(bs) != 1 || bs[0].Attrs[AttrRepo] != "own" {
			t.Errorf("match alice: %+v", bs)
		}
	})
	t.Run("match sees only what the token sees", func(t *testing.T) {
		// bob is a member of acme: he sees its repositories but may not
		// read their secrets (that takes write access).
		bob := e.token(t, "bob", "repo")
		tg := e.target(t, Config{Name: "GH_TOKEN", Match: &Match{Owner: "acme"}, Auth: func(context.Context) (token.Token, error) { return bob, nil }})
		_, err := tg.Discover(context.Background())
		if !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), "may not read the secrets of acme/deploy") {
			t.Errorf("Discover as bob = %v, want ErrNoSecret naming the repositories he may not read", err)
		}
	})
	e.noSecrets(t)
}

// TestApply_keyRotatedBetweenReadAndWrite: GitHub refuses a box sealed for
// a key that changed after rotor read it; rotor reads the key again and
// retries, and gives up when the key keeps changing.
func TestApply_keyRotatedBetweenReadAndWrite(t *testing.T) {
	e := newEnv(t)
	old := e.rotated(t)
	p := repoPlace("acme", "deploy")
	e.put(t, p, old, nil)
	tg := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}})
	bs := discover(t, tg)
	scope := ghemu.SecretScope{Service: ghemu.ServiceActions, Level: ghemu.LevelRepo, Account: "acme", Repo: "deploy"}

	var puts, rotations atomic.Int32
	rotateOn := func(max int32) func(*http.Request) {
		return func(r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/secrets/GH_TOKEN") {
				puts.Add(1)
				if rotations.Load() < max {
					rotations.Add(1)
					if _, err := e.emu.RotateSecretKey(scope); err != nil {
						t.Error(err)
					}
				}
			}
		}
	}

	e.setBefore(rotateOn(1))
	fresh := e.rotated(t)
	if r := run(t, tg.Apply, fresh, bs)[bs[0].ID]; r.Err != nil {
		t.Fatalf("Apply with the key rotated once: %v", r.Err)
	}
	if puts.Load() != 2 {
		t.Errorf("%d writes, want 2 (one refused, one with the new key)", puts.Load())
	}
	if got := e.holds(t, bs[0]); got != fresh.Fingerprint() {
		t.Errorf("secret holds %s, want %s", got, fresh.Fingerprint())
	}

	puts.Store(0)
	rotations.Store(0)
	e.setBefore(rotateOn(100))
	third := e.rotated(t)
	r := run(t, tg.Apply, third, bs)[bs[0].ID]
	if !errors.Is(r.Err, github.ErrImproperlyEncrypted) || !r.Unchanged {
		t.Fatalf("Apply with the key rotated every time = %+v, want ErrImproperlyEncrypted, unchanged", r)
	}
	if puts.Load() != 3 {
		t.Errorf("%d writes, want 3 (the bound)", puts.Load())
	}
	if got := e.holds(t, bs[0]); got != fresh.Fingerprint() {
		t.Errorf("after the refused write the secret holds %s, want the earlier %s", got, fresh.Fingerprint())
	}
	e.noSecrets(t, r.Err.Error())
}

// TestApply_organisationAccessKept: an organisation secret keeps its
// visibility and selected repositories, also ones a person changed after
// discovery.
func TestApply_organisationAccessKept(t *testing.T) {
	e := newEnv(t)
	old := e.rotated(t)
	org := github.SecretPlace{Level: github.LevelOrg, Owner: "acme", Name: "GH_TOKEN"}
	deploy, web, app := e.repoID(t, "acme", "deploy"), e.repoID(t, "acme", "web"), e.repoID(t, "acme", "app")
	e.put(t, org, old, &github.OrgSecretAccess{Visibility: "selected", SelectedRepositoryIDs: []int64{deploy, web}})
	tg := e.target(t, Config{Name: "GH_TOKEN", Organization: "acme"})
	bs := discover(t, tg)

	fresh := e.rotated(t)
	if r := run(t, tg.Apply, fresh, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	s, _ := e.stored(t, org)
	if s.Fingerprint != fresh.Fingerprint() || s.Visibility != "selected" || !slices.Equal(s.SelectedRepositoryIDs, []int64{deploy, web}) {
		t.Errorf("after apply: %+v, want the new token, selected, repositories %d and %d", s, deploy, web)
	}

	// A person gives the secret to app too after rotor discovered it.
	e.put(t, org, fresh, &github.OrgSecretAccess{Visibility: "selected", SelectedRepositoryIDs: []int64{deploy, web, app}})
	next := e.rotated(t)
	if r := run(t, tg.Apply, next, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	s, _ = e.stored(t, org)
	if s.Fingerprint != next.Fingerprint() || !slices.Equal(s.SelectedRepositoryIDs, slices.Sorted(slices.Values([]int64{deploy, web, app}))) {
		t.Errorf("after the second apply: %s %v, want %s and the person's three repositories kept", s.Fingerprint, s.SelectedRepositoryIDs, next.Fingerprint())
	}
}

// TestVerify_updatedAt: a write by someone else after rotor's fails
// verification; so does a secret nobody wrote since discovery.
func TestVerify_updatedAt(t *testing.T) {
	e := newEnv(t)
	old := e.rotated(t)
	p := repoPlace("acme", "deploy")
	e.put(t, p, old, nil)
	tg := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}})
	bs := discover(t, tg)
	fresh := e.rotated(t)
	if r := run(t, tg.Apply, fresh, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := e.emu.Advance(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	e.put(t, p, e.rotated(t), nil) // someone else, later
	if r := run(t, tg.Verify, fresh, bs)[bs[0].ID]; !errors.Is(r.Err, ErrChanged) {
		t.Errorf("Verify after another write = %v, want ErrChanged", r.Err)
	}

	// Another process (no record of the write) resumes verification of a
	// binding discovered after the last write: nothing was written since.
	bs2 := discover(t, e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}}))
	resumed := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}})
	if r := run(t, resumed.Verify, fresh, bs2)[bs2[0].ID]; !errors.Is(r.Err, ErrNotWritten) {
		t.Errorf("Verify without a write since discovery = %v, want ErrNotWritten", r.Err)
	}
	if _, err := e.emu.Advance(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if r := run(t, tg.Apply, fresh, bs2)[bs2[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := run(t, resumed.Verify, fresh, bs2)[bs2[0].ID]; r.Err != nil {
		t.Errorf("Verify by another process after a write = %v, want success", r.Err)
	}
}

// TestVerify_workflow: the workflow's job reads acme/app with the secret:
// a live token passes, a dead one fails the run and the binding, a run
// that does not finish in time fails with the bound named.
func TestVerify_workflow(t *testing.T) {
	e := newEnv(t,
		ghemu.WorkflowSpec{File: "check.yml", Job: ghemu.JobSpec{Secret: "GH_TOKEN", Reads: "acme/app"}},
		ghemu.WorkflowSpec{File: "slow.yml", Job: ghemu.JobSpec{Secret: "GH_TOKEN", Reads: "acme/app"}, QueueTime: ghemu.Duration{Duration: time.Hour}},
	)
	p := repoPlace("acme", "deploy")
	e.put(t, p, e.rotated(t), nil)
	tg := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}, Verify: VerifyWorkflow, Workflow: Workflow{File: "check.yml", Ref: "main"}})
	bs := discover(t, tg)

	live := e.rotated(t)
	if r := run(t, tg.Apply, live, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := run(t, tg.Verify, live, bs)[bs[0].ID]; r.Err != nil {
		t.Fatalf("Verify with a live token: %v", r.Err)
	}
	runs := e.emu.Runs()
	if len(runs) != 1 || runs[0].Conclusion != "success" || runs[0].Workflow != "check.yml" {
		t.Fatalf("runs %+v, want one successful check.yml", runs)
	}

	// A token that is dead by the time the job runs.
	dead := e.rotated(t)
	if r := run(t, tg.Apply, dead, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, ti := range e.emu.Tokens() {
		if ti.Fingerprint == dead.Fingerprint() {
			if err := e.emu.DeleteToken(ti.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := run(t, tg.Verify, dead, bs)[bs[0].ID]
	if !errors.Is(r.Err, ErrWorkflowFailed) || !strings.Contains(r.Err.Error(), `concluded "failure"`) {
		t.Fatalf("Verify with a dead token = %v, want ErrWorkflowFailed with the run's conclusion", r.Err)
	}

	slow := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}, Verify: VerifyWorkflow,
		Workflow: Workflow{File: "slow.yml", Ref: "main", Timeout: 100 * time.Millisecond}})
	bs = discover(t, slow)
	if r := run(t, slow.Apply, live, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	r = run(t, slow.Verify, live, bs)[bs[0].ID]
	if !errors.Is(r.Err, ErrWorkflowFailed) || !strings.Contains(r.Err.Error(), "did not finish within 100ms") {
		t.Fatalf("Verify with a run still queued = %v, want the bound named", r.Err)
	}

	missing := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}, Verify: VerifyWorkflow, Workflow: Workflow{File: "nope.yml", Ref: "main"}})
	if r := run(t, missing.Apply, live, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	r = run(t, missing.Verify, live, bs)[bs[0].ID]
	if !errors.Is(r.Err, ErrWorkflowFailed) || !strings.Contains(r.Err.Error(), "nope.yml") {
		t.Fatalf("Verify with a missing workflow = %v, want ErrWorkflowFailed naming it", r.Err)
	}
	e.noSecrets(t, fmt.Sprint(r.Err))
}

// TestRollback: applying the previous token back restores the secret and
// the workflow passes with it again.
func TestRollback(t *testing.T) {
	e := newEnv(t)
	prev := e.rotated(t)
	p := repoPlace("acme", "deploy")
	e.put(t, p, prev, nil)
	tg := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}, Verify: VerifyWorkflow, Workflow: Workflow{File: "check.yml", Ref: "main"}})
	bs := discover(t, tg)
	noScope := e.token(t, "alice") // no repo scope: cannot read the private acme/app
	if r := run(t, tg.Apply, noScope, bs)[bs[0].ID]; r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := run(t, tg.Verify, noScope, bs)[bs[0].ID]; !errors.Is(r.Err, ErrWorkflowFailed) {
		t.Fatalf("Verify with a token without repo = %v, want ErrWorkflowFailed", r.Err)
	}
	if r := run(t, tg.Apply, prev, bs)[bs[0].ID]; r.Err != nil {
		t.Fatalf("rollback: %v", r.Err)
	}
	if got := e.holds(t, bs[0]); got != prev.Fingerprint() {
		t.Errorf("after rollback the secret holds %s, want %s", got, prev.Fingerprint())
	}
	if r := run(t, tg.Verify, prev, bs)[bs[0].ID]; r.Err != nil {
		t.Errorf("Verify after rollback: %v", r.Err)
	}
}

func TestNew_refusesBadConfig(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad name", Config{Name: "1X", Repositories: []string{"a/b"}}, "name"},
		{"GITHUB_ prefix", Config{Name: "GITHUB_TOKEN", Repositories: []string{"a/b"}}, "GITHUB_"},
		{"nowhere", Config{Name: "X"}, "repositories"},
		{"bad repository", Config{Name: "X", Repositories: []string{"nope"}}, "owner/name"},
		{"dependabot environment", Config{Name: "X", Repositories: []string{"a/b"}, Environment: "p", Dependabot: true}, "Actions secrets only"},
		{"workflow without ref", Config{Name: "X", Repositories: []string{"a/b"}, Verify: VerifyWorkflow, Workflow: Workflow{File: "c.yml"}}, "file and ref"},
		{"org workflow without repository", Config{Name: "X", Organization: "acme", Verify: VerifyWorkflow, Workflow: Workflow{File: "c.yml", Ref: "main"}}, "repository to run"},
		{"unknown verify", Config{Name: "X", Repositories: []string{"a/b"}, Verify: "execution"}, "verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.GitHub = e.gh
			tt.cfg.Auth = func(context.Context) (token.Token, error) { return e.writer, nil }
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestInspect reports a deleted secret.
func TestInspect(t *testing.T) {
	e := newEnv(t)
	e.put(t, repoPlace("acme", "deploy"), e.rotated(t), nil)
	tg := e.target(t, Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}})
	bs := discover(t, tg)
	var got []rotation.Result
	tg.Inspect(context.Background(), bs, func(r rotation.Result) { got = append(got, r) })
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("Inspect = %+v, want healthy", got)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.url+"/repos/acme/deploy/actions/secrets/GH_TOKEN", nil)
	req.Header.Set("Authorization", "token "+e.writer.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	resp.Body.Close()
	got = nil
	tg.Inspect(context.Background(), bs, func(r rotation.Result) { got = append(got, r) })
	if len(got) != 1 || !errors.Is(got[0].Err, github.ErrNotFound) {
		t.Fatalf("Inspect after delete = %+v, want not found", got)
	}
}
