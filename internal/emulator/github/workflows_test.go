package github

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"
)

// workflowWorld is orgWorld plus alice/deploy, whose workflows read
// alice/private with the secret GH_TOKEN: check.yml at once, slow.yml
// after 10 s in the queue and 20 s of running, env.yml in the environment
// production, push.yml only on push, inputs.yml with inputs; and
// acme/app's org.yml, reading acme/app with ORG_TOKEN.
func workflowWorld() World {
	w := orgWorld()
	job := JobSpec{Secret: "GH_TOKEN", Reads: "alice/private"}
	w.Repos = append(w.Repos, RepoSpec{
		Owner: "alice", Name: "deploy", Private: true, Environments: []string{"production"},
		Workflows: []WorkflowSpec{
			{File: "check.yml", Name: "Check token", Job: job},
			{File: "slow.yml", Job: job, QueueTime: Duration{10 * time.Second}, RunTime: Duration{20 * time.Second}},
			{File: "env.yml", Job: job, Environment: "production"},
			{File: "push.yml", On: []string{"push"}, Job: job},
			{File: "inputs.yml", Inputs: map[string]InputSpec{"who": {Required: true}, "level": {Default: "info"}}},
		},
	})
	for i, r := range w.Repos {
		if r.Owner == "acme" && r.Name == "app" {
			w.Repos[i].Workflows = []WorkflowSpec{{File: "org.yml", Job: JobSpec{Secret: "ORG_TOKEN", Reads: "acme/app"}}}
		}
	}
	return w
}

// putSecret writes a repository, environment or organisation Actions
// secret with alice's classic token (and admin:org for organisations).
func (e *env) putSecret(t *testing.T, sc SecretScope, name, value string) {
	t.Helper()
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	var err error
	switch sc.Level {
	case LevelRepo:
		k, _, kerr := c.Actions.GetRepoPublicKey(ctx, sc.Account, sc.Repo)
		if kerr != nil {
			t.Fatal(kerr)
		}
		_, err = c.Actions.CreateOrUpdateRepoSecret(ctx, sc.Account, sc.Repo, name, gh.SecretRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), value)})
	case LevelEnvironment:
		k, _, kerr := c.Actions.GetEnvPublicKey(ctx, sc.Account, sc.Repo, sc.Environment)
		if kerr != nil {
			t.Fatal(kerr)
		}
		_, err = c.Actions.CreateOrUpdateEnvSecret(ctx, sc.Account, sc.Repo, sc.Environment, name, gh.SecretRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), value)})
	case LevelOrg:
		c = e.client(t, e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"admin:org"}}))
		k, _, kerr := c.Actions.GetOrgPublicKey(ctx, sc.Account)
		if kerr != nil {
			t.Fatal(kerr)
		}
		_, err = c.Actions.CreateOrUpdateOrgSecret(ctx, sc.Account, name, gh.SecretOrgRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), value), Visibility: "all"})
	}
	if err != nil {
		t.Fatalf("put %s %s: %v", sc, name, err)
	}
}

// dispatchAndFind dispatches file on main and finds its run the way a
// client must without return_run_details: the newest workflow_dispatch run
// created at or after the dispatch.
func (e *env) dispatchAndFind(t *testing.T, c *gh.Client, owner, repo, file string) *gh.WorkflowRun {
	t.Helper()
	ctx := context.Background()
	since := e.clock.Now()
	if _, resp, err := c.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, file, gh.CreateWorkflowDispatchEventRequest{Ref: "main"}); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("dispatch %s: %d %v", file, statusOf(resp), err)
	}
	runs, _, err := c.Actions.ListRepositoryWorkflowRuns(ctx, owner, repo, &gh.ListWorkflowRunsOptions{Event: "workflow_dispatch", Created: ">=" + since.Format(time.RFC3339)})
	if err != nil || len(runs.WorkflowRuns) == 0 {
		t.Fatalf("find the run: %+v %v", runs, err)
	}
	return runs.WorkflowRuns[0]
}

func (e *env) runNow(t *testing.T, c *gh.Client, owner, repo string, id int64) *gh.WorkflowRun {
	t.Helper()
	rn, _, err := c.Actions.GetWorkflowRunByID(context.Background(), owner, repo, id)
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

func TestWorkflows_RunUsesTheSecret(t *testing.T) {
	e := newEnv(t, workflowWorld())
	c := e.client(t, aliceClassic)
	deploy := SecretScope{Service: ServiceActions, Level: LevelRepo, Account: "alice", Repo: "deploy"}

	t.Run("a live token: success", func(t *testing.T) {
		e.putSecret(t, deploy, "GH_TOKEN", e.tok["bob-classic"])
		rn := e.dispatchAndFind(t, c, "alice", "deploy", "check.yml")
		if rn.GetStatus() != "completed" || rn.GetConclusion() != "success" || rn.GetName() != "Check token" || rn.GetEvent() != "workflow_dispatch" ||
			rn.GetHeadBranch() != "main" || rn.GetActor().GetLogin() != "alice" || rn.GetRunNumber() != 1 || rn.GetPath() != ".github/workflows/check.yml" {
			t.Fatalf("run = %+v", rn)
		}
	})
	t.Run("a revoked token: failure", func(t *testing.T) {
		dead := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"repo"}})
		e.putSecret(t, deploy, "GH_TOKEN", dead)
		if _, err := e.client(t, "").Credentials.Revoke(context.Background(), []string{dead}); !isAccepted(err) {
			t.Fatal(err)
		}
		rn := e.dispatchAndFind(t, c, "alice", "deploy", "check.yml")
		if rn.GetConclusion() != "failure" || rn.GetRunNumber() != 2 {
			t.Fatalf("run = %s %s #%d", rn.GetStatus(), rn.GetConclusion(), rn.GetRunNumber())
		}
		info := e.srv.Runs()[0]
		if info.ID != rn.GetID() || !strings.Contains(info.Reason, "revoked") || strings.Contains(info.Reason, dead) {
			t.Fatalf("admin reason = %q", info.Reason)
		}
	})
	t.Run("an under-scoped token: failure", func(t *testing.T) {
		e.putSecret(t, deploy, "GH_TOKEN", e.tok["alice-noscope"])
		if rn := e.dispatchAndFind(t, c, "alice", "deploy", "check.yml"); rn.GetConclusion() != "failure" {
			t.Fatalf("conclusion %s", rn.GetConclusion())
		}
	})
	t.Run("no such secret: failure", func(t *testing.T) {
		if _, err := c.Actions.DeleteRepoSecret(context.Background(), "alice", "deploy", "GH_TOKEN"); err != nil {
			t.Fatal(err)
		}
		if rn := e.dispatchAndFind(t, c, "alice", "deploy", "check.yml"); rn.GetConclusion() != "failure" || !strings.Contains(e.srv.Runs()[0].Reason, "not set") {
			t.Fatalf("conclusion %s, %q", rn.GetConclusion(), e.srv.Runs()[0].Reason)
		}
	})
	t.Run("the environment's secret comes first", func(t *testing.T) {
		e.putSecret(t, deploy, "GH_TOKEN", e.tok["alice-noscope"])
		e.putSecret(t, SecretScope{Service: ServiceActions, Level: LevelEnvironment, Account: "alice", Repo: "deploy", Environment: "production"}, "GH_TOKEN", e.tok["bob-classic"])
		if rn := e.dispatchAndFind(t, c, "alice", "deploy", "env.yml"); rn.GetConclusion() != "success" {
			t.Fatalf("env.yml: %s", rn.GetConclusion())
		}
		if rn := e.dispatchAndFind(t, c, "alice", "deploy", "check.yml"); rn.GetConclusion() != "failure" {
			t.Fatalf("check.yml sees the environment's secret: %s", rn.GetConclusion())
		}
	})
	t.Run("an organisation secret when the repository has none", func(t *testing.T) {
		e.putSecret(t, SecretScope{Service: ServiceActions, Level: LevelOrg, Account: "acme"}, "ORG_TOKEN", aliceClassic)
		if rn := e.dispatchAndFind(t, c, "acme", "app", "org.yml"); rn.GetConclusion() != "success" {
			t.Fatalf("org.yml: %s %q", rn.GetConclusion(), e.srv.Runs()[0].Reason)
		}
	})
}

// The job runs when the run leaves the queue, with the state of that
// instant: a revocation before it fails the run, one after it does not;
// an expiry counts the same way. Status moves with the emulator's clock.
func TestWorkflows_StatusAndTiming(t *testing.T) {
	e := newEnv(t, workflowWorld())
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	deploy := SecretScope{Service: ServiceActions, Level: LevelRepo, Account: "alice", Repo: "deploy"}

	tok := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"repo"}})
	e.putSecret(t, deploy, "GH_TOKEN", tok)
	details, resp, err := c.Actions.CreateWorkflowDispatchEventByFileName(ctx, "alice", "deploy", "slow.yml", gh.CreateWorkflowDispatchEventRequest{Ref: "main", ReturnRunDetails: new(true)})
	if err != nil || resp.StatusCode != http.StatusOK || details.GetWorkflowRunID() == 0 || !strings.HasSuffix(details.GetRunURL(), "/actions/runs/"+strconv.FormatInt(details.GetWorkflowRunID(), 10)) {
		t.Fatalf("dispatch with run details: %d %+v %v", statusOf(resp), details, err)
	}
	id := details.GetWorkflowRunID()
	if rn := e.runNow(t, c, "alice", "deploy", id); rn.GetStatus() != "queued" || rn.Conclusion != nil {
		t.Fatalf("at once: %s %v", rn.GetStatus(), rn.Conclusion)
	}
	e.clock.Advance(11 * time.Second)
	// Revoked after the job started: the run still succeeds.
	if _, err := e.client(t, "").Credentials.Revoke(ctx, []string{tok}); !isAccepted(err) {
		t.Fatal(err)
	}
	if rn := e.runNow(t, c, "alice", "deploy", id); rn.GetStatus() != "in_progress" || rn.Conclusion != nil || !rn.GetRunStartedAt().Time.Equal(e.clock.Now().Add(-time.Second)) {
		t.Fatalf("after 11 s: %s %v %v", rn.GetStatus(), rn.Conclusion, rn.GetRunStartedAt())
	}
	e.clock.Advance(20 * time.Second)
	if rn := e.runNow(t, c, "alice", "deploy", id); rn.GetStatus() != "completed" || rn.GetConclusion() != "success" {
		t.Fatalf("after 31 s: %s %s", rn.GetStatus(), rn.GetConclusion())
	}

	// Revoked while queued: the job fails when it starts, whoever looks.
	tok2 := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"repo"}})
	e.putSecret(t, deploy, "GH_TOKEN", tok2)
	rn2 := e.dispatchAndFind(t, c, "alice", "deploy", "slow.yml")
	if _, err := e.client(t, "").Credentials.Revoke(ctx, []string{tok2}); !isAccepted(err) {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if rn := e.runNow(t, c, "alice", "deploy", rn2.GetID()); rn.GetConclusion() != "failure" {
		t.Fatalf("revoked in the queue: %s", rn.GetConclusion())
	}

	// Expired while queued, looked at much later: failure, decided as of
	// the start even though the clock has moved on.
	short := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"repo"}, ExpiresIn: Duration{5 * time.Second}})
	e.putSecret(t, deploy, "GH_TOKEN", short)
	rn3 := e.dispatchAndFind(t, c, "alice", "deploy", "slow.yml")
	long := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"repo"}, ExpiresIn: Duration{15 * time.Second}})
	e.putSecret(t, deploy, "GH_TOKEN", long) // replaced while queued: the job reads the secret at its start
	e.clock.Advance(48 * time.Hour)
	if rn := e.runNow(t, c, "alice", "deploy", rn3.GetID()); rn.GetConclusion() != "success" {
		t.Fatalf("secret replaced in the queue by a token live at the start: %s %q", rn.GetConclusion(), e.srv.Runs()[0].Reason)
	}

	// Filters.
	all, _, _ := c.Actions.ListRepositoryWorkflowRuns(ctx, "alice", "deploy", nil)
	if all.GetTotalCount() != 3 || all.WorkflowRuns[0].GetID() != rn3.GetID() {
		t.Fatalf("list: %d, first %d", all.GetTotalCount(), all.WorkflowRuns[0].GetID())
	}
	for _, tt := range []struct {
		opts gh.ListWorkflowRunsOptions
		want int
	}{
		{gh.ListWorkflowRunsOptions{Status: "success"}, 2},
		{gh.ListWorkflowRunsOptions{Status: "failure"}, 1},
		{gh.ListWorkflowRunsOptions{Status: "completed"}, 3},
		{gh.ListWorkflowRunsOptions{Status: "queued"}, 0},
		{gh.ListWorkflowRunsOptions{Event: "push"}, 0},
		{gh.ListWorkflowRunsOptions{Branch: "main", Actor: "alice"}, 3},
		{gh.ListWorkflowRunsOptions{Created: "<" + e.clock.Now().Add(-47*time.Hour).Format(time.RFC3339)}, 3},
		{gh.ListWorkflowRunsOptions{Created: ">" + e.clock.Now().Add(-47*time.Hour).Format(time.RFC3339)}, 0},
		{gh.ListWorkflowRunsOptions{ListOptions: gh.ListOptions{PerPage: 2, Page: 2}}, 1},
	} {
		got, _, err := c.Actions.ListRepositoryWorkflowRuns(ctx, "alice", "deploy", &tt.opts)
		if err != nil || len(got.WorkflowRuns) != tt.want {
			t.Errorf("%+v: %d runs, want %d (%v)", tt.opts, len(got.GetWorkflowRuns()), tt.want, err)
		}
	}
	// A run belongs to its repository.
	if _, resp, _ := c.Actions.GetWorkflowRunByID(ctx, "alice", "private", id); statusOf(resp) != http.StatusNotFound {
		t.Errorf("another repository's run: %d", statusOf(resp))
	}
}

func TestWorkflows_DispatchRefusals(t *testing.T) {
	e := newEnv(t, workflowWorld())
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	tests := []struct {
		name, path, tok, body string
		want                  int
		msg                   string
	}{
		{"unknown workflow", "/repos/alice/deploy/actions/workflows/nope.yml/dispatches", aliceClassic, `{"ref":"main"}`, http.StatusNotFound, ""},
		{"no workflow_dispatch", "/repos/alice/deploy/actions/workflows/push.yml/dispatches", aliceClassic, `{"ref":"main"}`, http.StatusUnprocessableEntity, "workflow_dispatch"},
		{"no such ref", "/repos/alice/deploy/actions/workflows/check.yml/dispatches", aliceClassic, `{"ref":"nope"}`, http.StatusUnprocessableEntity, "No ref found for: nope"},
		{"no ref", "/repos/alice/deploy/actions/workflows/check.yml/dispatches", aliceClassic, `{}`, http.StatusUnprocessableEntity, "ref"},
		{"unexpected input", "/repos/alice/deploy/actions/workflows/inputs.yml/dispatches", aliceClassic, `{"ref":"main","inputs":{"who":"x","nope":"y"}}`, http.StatusUnprocessableEntity, "Unexpected inputs provided"},
		{"missing input", "/repos/alice/deploy/actions/workflows/inputs.yml/dispatches", aliceClassic, `{"ref":"main"}`, http.StatusUnprocessableEntity, "Required input 'who' not provided"},
		{"inputs given", "/repos/alice/deploy/actions/workflows/inputs.yml/dispatches", aliceClassic, `{"ref":"refs/heads/main","inputs":{"who":"x"}}`, http.StatusNoContent, ""},
		{"classic without repo", "/repos/alice/deploy/actions/workflows/check.yml/dispatches", e.tok["alice-noscope"], `{"ref":"main"}`, http.StatusNotFound, ""},
		{"fine-grained without actions", "/repos/alice/private/actions/workflows/check.yml/dispatches", e.tok["alice-fg"], `{"ref":"main"}`, http.StatusForbidden, msgNotByPAT},
		{"organisation member (read)", "/repos/acme/app/actions/workflows/org.yml/dispatches", e.newToken(t, TokenSpec{User: "bob", Kind: KindClassic, Scopes: []string{"repo"}}), `{"ref":"main"}`, http.StatusForbidden, msgWriteAccess},
		{"app with actions:write", "/repos/acme/app/actions/workflows/org.yml/dispatches", e.appToken(t, "secrets-bot", "acme"), `{"ref":"main"}`, http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, tt.path, "token "+tt.tok, tt.body)
			if resp.StatusCode != tt.want || !strings.Contains(body, tt.msg) {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, body, tt.want, tt.msg)
			}
		})
	}
	// Dispatch by id works as by file name; the app's runs name its bot.
	runs, _, _ := c.Actions.ListRepositoryWorkflowRuns(ctx, "acme", "app", nil)
	if runs.GetTotalCount() != 1 || runs.WorkflowRuns[0].GetActor().GetLogin() != "secrets-bot[bot]" || runs.WorkflowRuns[0].GetActor().GetType() != "Bot" {
		t.Fatalf("app run: %+v", runs)
	}
	if _, _, err := c.Actions.CreateWorkflowDispatchEventByID(ctx, "acme", "app", runs.WorkflowRuns[0].GetWorkflowID(), gh.CreateWorkflowDispatchEventRequest{Ref: "main"}); err != nil {
		t.Fatal(err)
	}
	// Anyone reads the runs of a public repository; nobody else's.
	if _, resp, _ := e.client(t, "").Actions.ListRepositoryWorkflowRuns(ctx, "alice", "deploy", nil); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("anonymous on a private repository: %d", statusOf(resp))
	}
	if _, _, err := e.client(t, "").Actions.ListRepositoryWorkflowRuns(ctx, "acme", "site", nil); err != nil {
		t.Fatalf("anonymous on a public repository: %v", err)
	}
}

func TestWorkflows_WorldRefusals(t *testing.T) {
	base := func(wf WorkflowSpec) World {
		return World{Users: []UserSpec{{Login: "alice"}}, Repos: []RepoSpec{{Owner: "alice", Name: "r", Environments: []string{"prod"}, Workflows: []WorkflowSpec{wf}}}}
	}
	for name, wf := range map[string]WorkflowSpec{
		"file name":   {File: "check"},
		"environment": {File: "a.yml", Environment: "staging"},
		"secret name": {File: "a.yml", Job: JobSpec{Secret: "GITHUB_TOKEN", Reads: "alice/r"}},
		"reads":       {File: "a.yml", Job: JobSpec{Reads: "alice"}},
		"event":       {File: "a.yml", On: []string{"Push!"}},
	} {
		if _, err := New(base(wf), Options{}); err == nil {
			t.Errorf("%s: a bad workflow was accepted", name)
		}
	}
	w := base(WorkflowSpec{File: "a.yml"})
	w.Repos[0].Workflows = append(w.Repos[0].Workflows, WorkflowSpec{File: "A.yml"})
	if _, err := New(w, Options{}); err == nil {
		t.Error("two workflows with one file name were accepted")
	}
}

func TestParseCreated(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		filter string
		in     []string
		out    []string
	}{
		{">=2026-03-01T10:00:00Z", []string{"2026-03-01T10:00:00Z", "2026-03-02T00:00:00Z"}, []string{"2026-03-01T09:59:59Z"}},
		{">2026-03-01T10:00:00Z", []string{"2026-03-01T10:00:01Z"}, []string{"2026-03-01T10:00:00Z"}},
		{"<2026-03-01", []string{"2026-02-28T23:59:59Z"}, []string{"2026-03-01T00:00:00Z"}},
		{"<=2026-03-01", []string{"2026-03-01T23:59:59Z"}, []string{"2026-03-02T00:00:00Z"}},
		{">2026-03-01", []string{"2026-03-02T00:00:00Z"}, []string{"2026-03-01T23:00:00Z"}},
		{"2026-03-01", []string{"2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z"}, []string{"2026-03-02T00:00:00Z", "2026-02-28T23:59:59Z"}},
		{"2026-03-01..2026-03-02", []string{"2026-03-01T00:00:00Z", "2026-03-02T23:59:59Z"}, []string{"2026-03-03T00:00:00Z"}},
		{"2026-03-01T12:00:00Z..*", []string{"2026-03-01T12:00:00Z", "2030-01-01T00:00:00Z"}, []string{"2026-03-01T11:59:59Z"}},
		{"*..2026-03-01T12:00:00Z", []string{"2026-03-01T12:00:00Z"}, []string{"2026-03-01T12:00:01Z"}},
	}
	for _, tt := range tests {
		f, herr := parseCreated(tt.filter)
		if herr != nil {
			t.Fatalf("%s: %v", tt.filter, herr.message)
		}
		for _, s := range tt.in {
			if !f(at(s)) {
				t.Errorf("%s excludes %s", tt.filter, s)
			}
		}
		for _, s := range tt.out {
			if f(at(s)) {
				t.Errorf("%s includes %s", tt.filter, s)
			}
		}
	}
	for _, bad := range []string{"today", ">=soon", "2026-13-01", "a..b"} {
		if _, herr := parseCreated(bad); herr == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// Runs and workflows survive a restart; a run queued at the snapshot does
// its job after the restore.
func TestWorkflows_SnapshotRestore(t *testing.T) {
	e := newEnv(t, workflowWorld())
	c := e.client(t, aliceClassic)
	e.putSecret(t, SecretScope{Service: ServiceActions, Level: LevelRepo, Account: "alice", Repo: "deploy"}, "GH_TOKEN", e.tok["bob-classic"])
	done := e.dispatchAndFind(t, c, "alice", "deploy", "check.yml")
	queued := e.dispatchAndFind(t, c, "alice", "deploy", "slow.yml")
	snap, err := e.srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(World{}, Options{Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Restore(snap); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	runs := srv.Runs()
	if len(runs) != 2 || runs[0].ID != queued.GetID() || runs[0].Conclusion != "success" || runs[1].ID != done.GetID() || runs[1].Conclusion != "success" {
		t.Fatalf("runs after restore: %+v", runs)
	}
	// The admin API lists them too.
	resp, body := e.do(t, http.MethodGet, "/_emulator/runs", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"workflow":"slow.yml"`) {
		t.Fatalf("admin runs: %d %s", resp.StatusCode, body)
	}
}
