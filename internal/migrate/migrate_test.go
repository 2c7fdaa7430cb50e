package migrate

import (
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
)

func TestUseConnectionStatementFollowsTheARNsPrefix(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:codeconnections:us-east-1:123456789012:connection/abc":      `"Action": "codeconnections:UseConnection", "Resource": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"`,
		"arn:aws:codestar-connections:us-east-1:123456789012:connection/abc": `"Action": "codestar-connections:UseConnection", "Resource": "arn:aws:codestar-connections:`,
		"": `"Action": "codeconnections:UseConnection", "Resource": "*"`,
	} {
		if got := UseConnectionStatement(arn); !strings.Contains(got, want) {
			t.Errorf("%q: %s, want %s", arn, got, want)
		}
	}
}

// TestPlannedBlockers: a v1-only variable used downstream and a stack block
// the action; a webhook whose secret is the token is named as such and
// turns DetectChanges on for an action that did not poll.
func TestPlannedBlockers(t *testing.T) {
	b := rotation.Binding{ID: "codepipeline:1:r:P/Source/Source", Attrs: map[string]string{"pipeline": "P", "stage": "Source", "action": "Source"}}
	in := Inspection{V1: map[string]string{"Owner": "o", "Repo": "r", "Branch": "main", "PollForSourceChanges": "false"},
		Stack: "app", V1OnlyRefs: []string{"Build/Build EnvironmentVariables: #{SourceVariables.CommitUrl}"}, V2: map[string]any{"x": 1}}
	p := planned(b, in, []Webhook{{Name: "w", Pipeline: "P", Action: "Source", SecretFingerprint: "sha256:abc"}, {Name: "other", Pipeline: "Q", Action: "Source"}}, "", "sha256:abc")
	if len(p.Blockers) != 2 || !strings.Contains(p.Blockers[0], "CommitUrl") || !strings.Contains(p.Blockers[1], "CloudFormation stack app") {
		t.Errorf("blockers %q", p.Blockers)
	}
	if !p.Detect || len(p.Webhooks) != 1 || !strings.Contains(p.Notes[0], "its secret is the token itself") {
		t.Errorf("detect %v, webhooks %v, notes %q", p.Detect, p.Webhooks, p.Notes)
	}
	q := planned(b, Inspection{V1: map[string]string{"PollForSourceChanges": "false"}}, nil, "", "")
	if q.Detect || len(q.Blockers) != 0 {
		t.Errorf("an action started by hand: detect %v, blockers %q", q.Detect, q.Blockers)
	}
}
