package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/scan"
	"github.com/rotor-ci/rotor/internal/token"
)

// TestCLI_ScanGitHubEnvironments: rotor scan --github OWNER lists the
// secrets of each repository's environments beside the repository's own:
// an environment secret rotor rotated matches rotor's write, one a person
// wrote just after it may hold that token; a token that may not list a
// repository's environments says so instead of skipping them in silence.
func TestCLI_ScanGitHubEnvironments(t *testing.T) {
	e := newE2E(t, "10m")
	const owner = "MyGitHubUserName"
	if err := e.sb.GitHub.CreateRepo(ghemu.RepoSpec{Owner: owner, Name: "deploy", Private: true, Environments: []string{"production", "staging"}}); err != nil {
		t.Fatal(err)
	}
	writer := e.newToken(owner, "repo")
	writerFile := filepath.Join(e.dir, "ci", "gh-writer")
	if err := os.WriteFile(writerFile, []byte(writer.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gh, err := github.New(e.sb.GitHubURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	production := github.SecretPlace{Level: github.LevelEnvironment, Owner: owner, Repo: "deploy", Environment: "production", Name: "GH_TOKEN"}
	old := e.tokens[0]
	if err := gh.WriteSecret(ctx, writer, production, old, nil); err != nil {
		t.Fatal(err)
	}
	e.actionsSecretConfig(owner, `environment: production
        token_file: ci/gh-writer`)
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "actions-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	fresh := e.newToken(owner, "repo")
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "actions-token", "--token-stdin"); code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	// A person copies the token into another environment's secret.
	staging := github.SecretPlace{Level: github.LevelEnvironment, Owner: owner, Repo: "deploy", Environment: "staging", Name: "DEPLOY_TOKEN"}
	if err := gh.WriteSecret(ctx, writer, staging, fresh, nil); err != nil {
		t.Fatal(err)
	}

	prodPath := "repos/" + owner + "/deploy/environments/production/secrets/GH_TOKEN"
	stagingPath := "repos/" + owner + "/deploy/environments/staging/secrets/DEPLOY_TOKEN"
	code, out := e.rotor("", "scan", "--github", owner, "--github-token-file", writerFile)
	if code != 0 || !strings.Contains(out, prodPath) || !strings.Contains(out, stagingPath) || !strings.Contains(out, "actions-token v2 current "+fresh.Fingerprint()) {
		t.Fatalf("scan --github: %d %s", code, out)
	}
	code, out = e.rotor("", "scan", "--github", owner, "--github-token-file", writerFile, "-o", "json")
	var rep scan.SecretReport
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &rep) != nil {
		t.Fatalf("scan --github -o json: %d %s", code, out)
	}
	match := map[string]scan.SecretFinding{}
	for _, f := range rep.Findings {
		match[f.Secret] = f
	}
	if f := match[prodPath]; f.Match != scan.MatchBinding || f.Fingerprint != fresh.Fingerprint() {
		t.Errorf("%s: %+v, want rotor's binding holding %s", prodPath, f, fresh.Fingerprint())
	}
	if f := match[stagingPath]; f.Match != scan.MatchTime || f.Credential != "actions-token" {
		t.Errorf("%s: %+v, want a secret written near rotor's write of actions-token", stagingPath, f)
	}

	// A fine-grained token that may read secrets but not list
	// environments (actions:read) names what it could not read.
	reader, _, err := e.sb.GitHub.CreateToken(owner, ghemu.TokenSpec{Kind: ghemu.KindFineGrained, Repositories: []string{owner + "/deploy"},
		Permissions: map[string]string{"secrets": "read"}, ExpiresIn: ghemu.Duration{Duration: 30 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	e.tokens = append(e.tokens, token.New(reader.Reveal()))
	readerFile := filepath.Join(e.dir, "ci", "gh-reader")
	if err := os.WriteFile(readerFile, []byte(reader.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = e.rotor("", "scan", "--github", owner, "--github-token-file", readerFile)
	if code != 0 || !strings.Contains(out, "not readable with this token") || !strings.Contains(out, "environments of "+owner+"/deploy") || strings.Contains(out, prodPath) {
		t.Fatalf("scan --github with a token that cannot list environments: %d %s", code, out)
	}
	e.canary()
}
