package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/plan"
	"github.com/rotor-ci/rotor/internal/token"
)

// TestCLI_GitHubActionsSecret drives a github-actions-secret target
// through the CLI against the GitHub emulator: plan shows the secret, a
// rotation writes it and a workflow proves the token works from Actions,
// status counts it healthy, a rotation whose token dies before the
// workflow runs is rolled back to the previous token, and scan --github
// matches the secret to rotor's write by updated_at. No output holds a
// token.
func TestCLI_GitHubActionsSecret(t *testing.T) {
	e := newE2E(t, "10m")
	const owner = "MyGitHubUserName"
	if err := e.sb.GitHub.CreateRepo(ghemu.RepoSpec{Owner: owner, Name: "deploy", Private: true, Workflows: []ghemu.WorkflowSpec{{
		File: "check.yml", Job: ghemu.JobSpec{Secret: "GH_TOKEN", Reads: owner + "/test-repo"},
		QueueTime: ghemu.Duration{Duration: 500 * time.Millisecond},
	}}}); err != nil {
		t.Fatal(err)
	}
	writer := e.newToken(owner, "repo")
	// In ci/, where the canary expects tokens (it is one).
	writerFile := filepath.Join(e.dir, "ci", "gh-writer")
	if err := os.WriteFile(writerFile, []byte(writer.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := e.tokens[0]
	secretHolds := e.seedDeploySecret(owner, writer, old)
	e.actionsSecretConfig(owner, `token_file: ci/gh-writer
        verify: workflow
        workflow: {file: check.yml, ref: main, timeout: 1m}`)
	if code, out := e.rotor("", "validate"); code != 0 {
		t.Fatalf("validate: %d %s", code, out)
	}
	code, out := e.rotor("", "plan", "-o", "json")
	var r plan.Report
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &r) != nil {
		t.Fatalf("plan: %d %s", code, out)
	}
	if len(r.Credentials) != 1 || len(r.Credentials[0].Bindings) != 1 || !strings.HasSuffix(r.Credentials[0].Bindings[0].ID, "/repos/"+owner+"/deploy/actions/secrets/GH_TOKEN") {
		t.Fatalf("plan bindings: %+v", r.Credentials)
	}
	first := e.adoptAndRotate(owner, old, secretHolds)
	if runs := e.sb.GitHub.Runs(); len(runs) != 1 || runs[0].Conclusion != "success" {
		t.Fatalf("verify runs: %+v", runs)
	}
	if code, out := e.rotor("", "status"); code != 0 || !strings.Contains(out, "actions-token") || !strings.Contains(out, "1/1 healthy") {
		t.Fatalf("status: %d %s", code, out)
	}

	// The next token dies while its verify run is queued: the run fails,
	// the rotation rolls back, and the secret holds the first token again.
	second := e.newToken(owner, "repo")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			for _, run := range e.sb.GitHub.Runs() {
				if run.Status == "queued" {
					for _, ti := range e.sb.GitHub.Tokens() {
						if ti.Fingerprint == second.Fingerprint() && ti.State == ghemu.StateActive {
							_ = e.sb.GitHub.DeleteToken(ti.ID)
						}
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	code, out = e.rotor(second.Reveal()+"\n", "rotate", "actions-token", "--token-stdin")
	cancel()
	if code != ExitRolledBack || !strings.Contains(out, "check.yml") {
		t.Fatalf("rotate with a token that dies: exit %d, want %d naming the workflow\n%s", code, ExitRolledBack, out)
	}
	if got := secretHolds(); got != first.Fingerprint() {
		t.Fatalf("after rollback the secret holds %s, want %s", got, first.Fingerprint())
	}

	code, out = e.rotor("", "scan", "--github", owner, "--github-token-file", writerFile)
	if code != 0 || !strings.Contains(out, "repos/"+owner+"/deploy/actions/secrets/GH_TOKEN") || !strings.Contains(out, "never shows a secret's value") ||
		!strings.Contains(out, "actions-token v") || !strings.Contains(out, first.Fingerprint()) {
		t.Fatalf("scan --github: %d %s", code, out)
	}
	e.canary()
}

// TestCLI_GitHubActionsSecretApp: a github-actions-secret target that
// writes as a GitHub App (app: in rotor.yaml, no token_file) rotates the
// secret from the CLI; a key file others may read stops plan with an error
// naming the file; an app without the secrets permission is refused
// naming the permission, and the secret keeps its token. No output holds a
// token, the app's installation tokens included.
func TestCLI_GitHubActionsSecretApp(t *testing.T) {
	e := newE2E(t, "10m")
	const owner = "MyGitHubUserName"
	if err := e.sb.GitHub.CreateRepo(ghemu.RepoSpec{Owner: owner, Name: "deploy", Private: true}); err != nil {
		t.Fatal(err)
	}
	newApp := func(app string, perms map[string]string) (appID, instID int64, keyFile string) {
		t.Helper()
		info, pem, err := e.sb.GitHub.CreateApp(ghemu.AppSpec{Name: app, Owner: owner, Permissions: perms,
			Installations: []ghemu.InstallationSpec{{Account: owner, Repositories: []string{"deploy"}}}})
		if err != nil {
			t.Fatal(err)
		}
		keyFile = filepath.Join(e.dir, app+".pem")
		if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		return info.ID, info.Installations[0].ID, keyFile
	}
	writerID, writerInst, writerKey := newApp("secrets-writer", map[string]string{"secrets": "write"})
	readerID, readerInst, readerKey := newApp("reader", map[string]string{"contents": "read"})

	old := e.tokens[0]
	secretHolds := e.seedDeploySecret(owner, e.newToken(owner, "repo"), old)
	writeConfig := func(appID, instID int64, keyFile string) {
		t.Helper()
		e.actionsSecretConfig(owner, fmt.Sprintf("app: {app_id: %d, installation_id: %d, private_key_file: %s}", appID, instID, filepath.Base(keyFile)))
	}
	writeConfig(writerID, writerInst, writerKey)
	if code, out := e.rotor("", "validate"); code != 0 {
		t.Fatalf("validate: %d %s", code, out)
	}

	if err := os.Chmod(writerKey, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := e.rotor("", "plan")
	if code == 0 || !strings.Contains(out, writerKey) || !strings.Contains(out, "app") {
		t.Fatalf("plan with a key file others may read: %d %s, want an error naming the file", code, out)
	}
	if err := os.Chmod(writerKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor("", "plan"); code != 0 || !strings.Contains(out, "/repos/"+owner+"/deploy/actions/secrets/GH_TOKEN") {
		t.Fatalf("plan: %d %s", code, out)
	}
	first := e.adoptAndRotate(owner, old, secretHolds)

	// The same target as an app that may not write secrets.
	writeConfig(readerID, readerInst, readerKey)
	second := e.newToken(owner, "repo")
	code, out = e.rotor(second.Reveal()+"\n", "rotate", "actions-token", "--token-stdin")
	if code == 0 || !strings.Contains(out, "secrets: write") {
		t.Fatalf("rotate as an app without secrets: exit %d, want a failure naming secrets: write\n%s", code, out)
	}
	if got := secretHolds(); got != first.Fingerprint() {
		t.Fatalf("after the refusal the secret holds %s, want %s", got, first.Fingerprint())
	}
	for _, o := range e.outputs {
		if strings.Contains(o, "ghs_") {
			t.Fatalf("an installation token appears in an output:\n%s", o)
		}
	}
	e.canary()
}

// seedDeploySecret writes tok into owner/deploy's Actions secret GH_TOKEN
// as a person would, with writer, and returns what tells the secret's
// value (its fingerprint) from then on.
func (e *e2e) seedDeploySecret(owner string, writer, tok token.Token) func() string {
	e.t.Helper()
	gh, err := github.New(e.sb.GitHubURL)
	if err != nil {
		e.t.Fatal(err)
	}
	place := github.SecretPlace{Level: github.LevelRepo, Owner: owner, Repo: "deploy", Name: "GH_TOKEN"}
	if err := gh.WriteSecret(context.Background(), writer, place, tok, nil); err != nil {
		e.t.Fatal(err)
	}
	return func() string {
		for _, s := range e.sb.GitHub.Secrets() {
			if s.Repo == "deploy" && s.Name == "GH_TOKEN" {
				return s.Fingerprint
			}
		}
		return ""
	}
}

// actionsSecretConfig writes rotor.yaml with one personal-token
// credential, actions-token, kept in owner/deploy's secret GH_TOKEN by a
// github-actions-secret target with the further fields in writer.
func (e *e2e) actionsSecretConfig(owner, writer string) {
	e.t.Helper()
	cfg := fmt.Sprintf(`store: sqlite:rotor.db
key: file:rotor.key
github: {api_url: %s}
credentials:
  - name: actions-token
    source: {type: personal-token, scopes: [repo]}
    rotate: {every: 30d, renew_before: 7d, grace: 10m}
    targets:
      - type: github-actions-secret
        name: GH_TOKEN
        repositories: [%s/deploy]
        %s
`, e.sb.GitHubURL, owner, writer)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// adoptAndRotate adopts old as actions-token's current version, rotates to
// a new token of owner and returns it, once the secret holds it.
func (e *e2e) adoptAndRotate(owner string, old token.Token, secretHolds func() string) token.Token {
	e.t.Helper()
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "actions-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		e.t.Fatalf("adopt: %d %s", code, out)
	}
	fresh := e.newToken(owner, "repo")
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "actions-token", "--token-stdin"); code != 0 {
		e.t.Fatalf("rotate: %d %s", code, out)
	}
	if got := secretHolds(); got != fresh.Fingerprint() {
		e.t.Fatalf("secret holds %s, want %s", got, fresh.Fingerprint())
	}
	return fresh
}
