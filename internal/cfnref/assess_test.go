package cfnref_test

import (
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target/secretsmanager"
	"github.com/rotor-ci/rotor/internal/target/ssm"
)

// holds is what wiring gives Assess: each target's own answer (Holder).
func holds(b rotation.Binding) (cfnref.Held, bool) {
	switch b.Target {
	case secretsmanager.Type:
		return (*secretsmanager.Target)(nil).Held(b)
	case ssm.Type:
		return (*ssm.Target)(nil).Held(b)
	}
	return cfnref.Held{}, false
}

func TestAssess(t *testing.T) {
	const secretARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ci/gh-AbCdEf"
	action := rotation.Binding{ID: "codepipeline:eu-west-1:build/Source/Source", Target: "codepipeline"}
	secret := func(key string) rotation.Binding {
		return rotation.Binding{ID: "secretsmanager:eu-west-1:ci/gh", Target: secretsmanager.Type, Attrs: map[string]string{
			secretsmanager.AttrRegion: "eu-west-1", secretsmanager.AttrARN: secretARN, secretsmanager.AttrName: "ci/gh", secretsmanager.AttrJSONKey: key,
		}}
	}
	param := rotation.Binding{ID: "ssm:eu-west-1:/ci/gh", Target: ssm.Type, Attrs: map[string]string{ssm.AttrRegion: "eu-west-1", ssm.AttrName: "/ci/gh"}}
	smRef := func(id, key string) cfnref.Ref {
		return cfnref.Ref{Kind: cfnref.KindSecretsManager, SecretID: id, JSONKey: key, Region: "eu-west-1", Account: "111122223333", Text: "{{resolve:secretsmanager:" + id + ":SecretString:" + key + "}}"}
	}
	pinned, _ := cfnref.Parse("{{resolve:secretsmanager:ci/gh:SecretString:token:AWSPREVIOUS}}")
	pinned.Region = "eu-west-1"
	tests := []struct {
		name     string
		ref      cfnref.Ref
		found    bool
		bindings []rotation.Binding
		safe     bool
		holder   string
		warn     string // a warning must contain this; "" means no warning
	}{
		{"secret by name, before the action", smRef("ci/gh", "token"), true, []rotation.Binding{secret("token"), action}, true, "secretsmanager:eu-west-1:ci/gh", ""},
		{"secret by full ARN", smRef(secretARN, "token"), true, []rotation.Binding{secret("token"), action}, true, "secretsmanager:eu-west-1:ci/gh", ""},
		{"secret by partial ARN", smRef("arn:aws:secretsmanager:eu-west-1:111122223333:secret:ci/gh", "token"), true, []rotation.Binding{secret("token"), action}, true, "secretsmanager:eu-west-1:ci/gh", ""},
		{"partial ARN of another secret", smRef("arn:aws:secretsmanager:eu-west-1:111122223333:secret:ci", "token"), true, []rotation.Binding{secret("token"), action}, false, "", "does not rotate"},
		{"same name in another region", cfnref.Ref{Kind: cfnref.KindSecretsManager, SecretID: "ci/gh", JSONKey: "token", Region: "us-east-1"}, true, []rotation.Binding{secret("token"), action}, false, "", "does not rotate"},
		{"secret after the action", smRef("ci/gh", "token"), true, []rotation.Binding{action, secret("token")}, false, "secretsmanager:eu-west-1:ci/gh", "before the codepipeline target"},
		{"another json key", smRef("ci/gh", "token"), true, []rotation.Binding{secret("pat"), action}, false, "", "reads key token"},
		{"secret not rotated", smRef("ci/gh", "token"), true, []rotation.Binding{action}, false, "", "secret_id: ci/gh\n  json_key: token"},
		{"pinned stage", pinned, true, []rotation.Binding{secret("token"), action}, false, "secretsmanager:eu-west-1:ci/gh", "pins secret ci/gh"},
		{"ssm-secure rotated first", cfnref.Ref{Kind: cfnref.KindSSM, Param: "/ci/gh", Secure: true, Region: "eu-west-1", Text: "{{resolve:ssm-secure:/ci/gh}}"}, true, []rotation.Binding{param, action}, true, "ssm:eu-west-1:/ci/gh", ""},
		{"ssm-secure not rotated", cfnref.Ref{Kind: cfnref.KindSSM, Param: "/ci/other", Secure: true, Region: "eu-west-1"}, true, []rotation.Binding{param, action}, false, "", "- type: ssm\n  name: /ci/other"},
		{"plain ssm", mustParse(t, "{{resolve:ssm:/ci/gh}}"), true, []rotation.Binding{param, action}, false, "", "cannot read a SecureString"},
		{"literal", cfnref.Ref{Kind: cfnref.KindLiteral, Literal: true, Warnings: []string{"the template holds the token itself"}}, true, []rotation.Binding{action}, false, "", "holds the token itself"},
		{"not declared", cfnref.Ref{}, false, []rotation.Binding{action}, false, "", "does not declare it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cfnref.Assess("ci", tt.ref, tt.found, action, tt.bindings, holds)
			if f.Safe != tt.safe || f.Holder != tt.holder {
				t.Errorf("safe %v holder %q, want %v %q (notes %q, warnings %q)", f.Safe, f.Holder, tt.safe, tt.holder, f.Notes, f.Warnings)
			}
			all := strings.Join(f.Warnings, "\n")
			switch {
			case tt.warn == "" && len(f.Warnings) > 0:
				t.Errorf("unexpected warnings %q", f.Warnings)
			case tt.warn != "" && !strings.Contains(all, tt.warn):
				t.Errorf("warnings %q do not say %q", f.Warnings, tt.warn)
			}
			if f.Safe && (len(f.Notes) != 2 || !strings.Contains(f.Notes[1], "harmless")) {
				t.Errorf("a safe finding must say what it found and why it is safe: %q", f.Notes)
			}
		})
	}
}

func mustParse(t *testing.T, s string) cfnref.Ref {
	t.Helper()
	r, err := cfnref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
