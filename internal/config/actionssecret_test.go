package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse_githubActionsSecret(t *testing.T) {
	in := `credentials:
  - name: deploy
    source: {type: personal-token}
    targets:
      - type: github-actions-secret
        name: GH_TOKEN
        repositories: [acme/deploy]
        organization: acme
        match: {owner: acme}
        token_file: secrets/writer
        verify: workflow
        workflow: {file: check.yml, ref: main, repository: acme/deploy}
`
	c, err := Parse([]byte(in), "/etc/rotor/rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Credentials[0].Targets[0]
	want := Workflow{File: "check.yml", Ref: "main", Repository: "acme/deploy", Timeout: Duration(10 * time.Minute)}
	if d := cmp.Diff(want, got.Workflow); d != "" {
		t.Errorf("workflow (-want +got):\n%s", d)
	}
	if got.TokenFile != filepath.FromSlash("/etc/rotor/secrets/writer") || got.Verify != VerifyWorkflow || got.Match.Owner != "acme" {
		t.Errorf("target %+v", got)
	}
	if len(c.Credentials[0].Source.Scopes) != 0 {
		t.Errorf("scopes %v: a secret's consumer needs are not known", c.Credentials[0].Source.Scopes)
	}

	def, err := Parse([]byte(`credentials:
  - name: d
    source: {type: personal-token}
    targets: [{type: github-actions-secret, name: X, repositories: [a/b], token_file: w}]
`), "rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if v := def.Credentials[0].Targets[0].Verify; v != VerifyUpdatedAt {
		t.Errorf("default verify %q, want updated_at", v)
	}
}

func TestParse_githubActionsSecretErrors(t *testing.T) {
	in := `credentials:
  - name: deploy
    source: {type: personal-token}
    targets:
      - type: github-actions-secret
        name: GITHUB_TOKEN
        repositories: [acme, acme/deploy, ACME/deploy]
        environment: production
        dependabot: true
        match: {branch: main}
        verify: workflow
        workflow: {file: check.yml}
        path: /tmp/x
      - type: github-actions-secret
        name: X
        organization: acme
        token_file: w
        verify: workflow
        workflow: {file: c.yml, ref: main}
`
	got := parseErrors(t, in)
	want := []string{ // sorted by line
		`rotor.yaml:5: credentials[0].targets[0].token_file: required, or app: a file (0600) with the token that writes the secrets (repo scope or the secrets permission; not the token being rotated), or the GitHub App to write them as`,
		`rotor.yaml:6: credentials[0].targets[0].name: "GITHUB_TOKEN": not a secret name GitHub allows (letters, digits and _, not a digit first, not GITHUB_ first)`,
		`rotor.yaml:7: credentials[0].targets[0].repositories[0]: "acme": want owner/name`,
		`rotor.yaml:7: credentials[0].targets[0].repositories[2]: "ACME/deploy" listed twice`,
		`rotor.yaml:8: credentials[0].targets[0].environment: environments hold Actions secrets only, not Dependabot secrets`,
		`rotor.yaml:10: credentials[0].targets[0].match.branch: not a field of github-actions-secret targets (secrets belong to a repository, not a branch)`,
		`rotor.yaml:10: credentials[0].targets[0].match.owner: required: the user or organisation whose repositories to search`,
		`rotor.yaml:12: credentials[0].targets[0].workflow.ref: required with verify: workflow: the branch or tag to run it on`,
		`rotor.yaml:13: credentials[0].targets[0].path: not a field of github-actions-secret targets`,
		`rotor.yaml:19: credentials[0].targets[1].workflow.repository: required for an organisation secret: the repository to run the workflow in`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

// TestParse_githubActionsSecretApp: a target writes as a GitHub App
// instead of with a token file; exactly one of them.
func TestParse_githubActionsSecretApp(t *testing.T) {
	c, err := Parse([]byte(`credentials:
  - name: deploy
    source: {type: personal-token}
    targets:
      - type: github-actions-secret
        name: GH_TOKEN
        repositories: [acme/deploy, acme/web]
        app: {app_id: 12, installation_id: 34, private_key_file: keys/writer.pem}
`), "/etc/rotor/rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := App{AppID: 12, InstallationID: 34, PrivateKeyFile: filepath.FromSlash("/etc/rotor/keys/writer.pem")}
	if d := cmp.Diff(want, c.Credentials[0].Targets[0].App); d != "" {
		t.Errorf("app (-want +got):\n%s", d)
	}

	for _, tt := range []struct {
		name, target string
		want         []string
	}{
		{"both", "token_file: w, app: {app_id: 1, installation_id: 2, private_key_file: k.pem}",
			[]string{"rotor.yaml:5: credentials[0].targets[0].app: token_file is set too: the target writes with one of them, the token in token_file or the app's installation token"}},
		{"neither", "concurrency: 2",
			[]string{"rotor.yaml:5: credentials[0].targets[0].token_file: required, or app: a file (0600) with the token that writes the secrets (repo scope or the secrets permission; not the token being rotated), or the GitHub App to write them as"}},
		{"incomplete app", "app: {app_id: -1}", []string{
			"rotor.yaml:5: credentials[0].targets[0].app.app_id: must be a positive number",
			"rotor.yaml:5: credentials[0].targets[0].app.installation_id: required: the app's installation on the account that owns the secrets (its number, from the account's Settings → GitHub Apps → Configure)",
			"rotor.yaml:5: credentials[0].targets[0].app.private_key_file: required: the app's private key (PEM file, mode 0600)",
		}},
		{"client id, unknown field", "app: {client_id: Iv23li, installation_id: 2, private_key_file: k.pem, permissions: {secrets: write}}",
			[]string{`rotor.yaml:5: credentials[0].targets[0].app.permissions: unknown field`}},
		{"two accounts", "organization: other, app: {app_id: 1, installation_id: 2, private_key_file: k.pem}",
			[]string{"rotor.yaml:5: credentials[0].targets[0].app: an app installation belongs to one account, and these secrets belong to acme and other: use one target per account"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErrors(t, "credentials:\n  - name: d\n    source: {type: personal-token}\n    targets:\n      - {type: github-actions-secret, name: X, repositories: [acme/deploy], "+tt.target+"}\n")
			if len(got) != len(tt.want) {
				t.Fatalf("errors %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %q, want %q", got[i], tt.want[i])
				}
			}
		})
	}
}

// parseErrors parses in, which must fail, and returns its errors' texts.
func parseErrors(t *testing.T, in string) []string {
	t.Helper()
	_, err := Parse([]byte(in), "rotor.yaml")
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse = %v, want config errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	return got
}
