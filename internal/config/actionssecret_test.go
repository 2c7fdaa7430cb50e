package config

import (
	"errors"
	"path/filepath"
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
	_, err := Parse([]byte(in), "rotor.yaml")
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse = %v, want config errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	want := []string{ // sorted by line
		`rotor.yaml:5: credentials[0].targets[0].token_file: required: a file (0600) with the token that writes the secrets (repo scope or the secrets permission; not the token being rotated)`,
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
