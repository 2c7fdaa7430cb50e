package codepipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

func TestNew(t *testing.T) {
	isolate(t)
	aws := awsx.Config{Region: region, Credentials: static, EndpointURL: "http://127.0.0.1:1"}
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"nothing to rotate", Config{AWS: aws}, ErrConfig},
		{"bad verify", Config{AWS: aws, Pipelines: []string{"p"}, Verify: "ping"}, ErrConfig},
		{"empty name", Config{AWS: aws, Pipelines: []string{""}}, ErrConfig},
		{"no region", Config{AWS: awsx.Config{Credentials: static}, Pipelines: []string{"p"}}, awsx.ErrNoRegion},
		{"named", Config{AWS: aws, Pipelines: []string{"p"}}, nil},
		{"match", Config{AWS: aws, Match: &Match{Owner: "o"}, Verify: VerifyExecution}, nil},
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(context.Background(), tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
			if err == nil && (tg.Type() != Type || tg.Region() != region || tg.cfg.Concurrency != DefaultConcurrency) {
				t.Errorf("target = %s %s concurrency %d", tg.Type(), tg.Region(), tg.cfg.Concurrency)
			}
		})
	}
}

func TestTarget_locate(t *testing.T) {
	tg := &Target{region: region, account: account}
	tests := []struct {
		name string
		b    rotation.Binding
		want where
		err  bool
	}{
		{"current id", rotation.Binding{ID: "codepipeline:123456789012:us-east-1:p.1@x/Source/GitHub-1", Target: Type},
			where{account, "p.1@x", "Source", "GitHub-1"}, false},
		{"legacy id of an earlier run", rotation.Binding{ID: "codepipeline:us-east-1:p/S/A", Attrs: map[string]string{AttrAccount: account}},
			where{account, "p", "S", "A"}, false},
		{"legacy id without account", rotation.Binding{ID: "codepipeline:us-east-1:p/S/A"}, where{"", "p", "S", "A"}, false},
		{"other region", rotation.Binding{ID: "codepipeline:123456789012:eu-west-1:p/S/A"}, where{}, true},
		{"other region, legacy", rotation.Binding{ID: "codepipeline:eu-west-1:p/S/A"}, where{}, true},
		{"other account", rotation.Binding{ID: "codepipeline:210987654321:us-east-1:p/S/A"}, where{}, true},
		{"other account, legacy", rotation.Binding{ID: "codepipeline:us-east-1:p/S/A", Attrs: map[string]string{AttrAccount: "210987654321"}}, where{}, true},
		{"other target", rotation.Binding{ID: "codepipeline:123456789012:us-east-1:p/S/A", Target: "file"}, where{}, true},
		{"malformed", rotation.Binding{ID: "codepipeline:123456789012:us-east-1:p/S"}, where{}, true},
		{"too many parts", rotation.Binding{ID: "codepipeline:x:123456789012:us-east-1:p/S/A"}, where{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tg.locate(tt.b)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("locate = %v, %v; want %v, error %v", got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, ErrForeignBinding) {
				t.Errorf("error %v is not ErrForeignBinding", err)
			}
		})
	}
}

func TestMatch_matches(t *testing.T) {
	a := ghAction{owner: "Acme", repo: "API", branch: "main"}
	tests := []struct {
		m    *Match
		want bool
	}{
		{nil, true},
		{&Match{}, true},
		{&Match{Owner: "acme"}, true},
		{&Match{Owner: "acme", Repo: "api", Branch: "main"}, true},
		{&Match{Repo: "web"}, false},
		{&Match{Branch: "Main"}, false}, // branches are case-sensitive
	}
	for _, tt := range tests {
		t.Run(tt.m.String(), func(t *testing.T) {
			if got := tt.m.matches(a); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}

const rawDecl = `{"pipeline": {
  "name": "p", "version": 4, "variables": [], "triggers": null,
  "stages": [
    {"name": "Source", "actions": [
      {"name": "A", "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
       "configuration": {"Owner": "o", "Repo": "r", "Branch": "main", "OAuthToken": "%s"}, "inputArtifacts": []},
      {"name": "B", "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
       "configuration": {"Owner": "o", "Repo": "s", "Branch": "main", "OAuthToken": "%s"}}]},
    {"name": "Build", "actions": [
      {"name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
       "configuration": {"ProjectName": "x", "OAuthToken": "not a GitHub action's"}, "runOrder": 1}]}]},
 "metadata": {"pipelineArn": "arn:aws:codepipeline:us-east-1:123456789012:p"}}`

func doc(t *testing.T, a, b string) map[string]any {
	t.Helper()
	p, err := decodeMember([]byte(fmt.Sprintf(rawDecl, a, b)), "pipeline")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestComparable(t *testing.T) {
	ta, tb := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	real := doc(t, ta.Reveal(), tb.Reveal())
	shown := doc(t, masked, masked)
	if d := cmp.Diff(comparable(shown), comparable(real)); d != "" {
		t.Errorf("tokens are not masked alike (-shown +real):\n%s", d)
	}
	c := comparable(real).(map[string]any)
	if _, ok := c["version"]; ok {
		t.Error("version kept")
	}
	if _, ok := c["variables"]; ok {
		t.Error("empty variables kept")
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), ta.Reveal()) || !strings.Contains(string(b), "not a GitHub action's") {
		t.Errorf("comparable = %s: want GitHub tokens masked, other configuration kept", b)
	}
	if got := real["version"]; got == nil {
		t.Error("comparable changed its argument")
	}
	if d := cmp.Diff(map[string]string{"Source/A": ta.Reveal(), "Source/B": tb.Reveal()}, rawTokens(real)); d != "" {
		t.Errorf("rawTokens (-want +got):\n%s", d)
	}
}

func TestDifferences(t *testing.T) {
	a := comparable(doc(t, masked, masked))
	b := comparable(doc(t, masked, masked)).(map[string]any)
	stages := b["stages"].([]any)
	stages[1].(map[string]any)["actions"].([]any)[0].(map[string]any)["configuration"].(map[string]any)["ProjectName"] = "y"
	b["pipelineType"] = "V2"
	got := differences(a, b, 5)
	want := []string{"pipelineType", "stages[1].actions[0].configuration.ProjectName"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("differences (-want +got):\n%s", d)
	}
	if got := differences(a, a, 5); len(got) != 0 {
		t.Errorf("differences(a, a) = %v", got)
	}
}

func TestGuard(t *testing.T) {
	ta, tb := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	want := comparable(doc(t, masked, masked))
	both := map[string]token.Token{"Source/A": ta, "Source/B": tb}
	onlyA := map[string]token.Token{"Source/A": ta}
	asRead := map[string]string{"Source/A": masked, "Source/B": masked}
	tests := []struct {
		name string
		plan map[string]token.Token
		body string
		ok   bool
	}{
		{"tokens set, nothing else changed", both, fmt.Sprintf(rawDecl, ta.Reveal(), tb.Reveal()), true},
		{"a planned action sent the mask", both, fmt.Sprintf(rawDecl, ta.Reveal(), masked), false},
		{"the wrong token", both, fmt.Sprintf(rawDecl, tb.Reveal(), tb.Reveal()), false},
		{"a member changed", both, strings.Replace(fmt.Sprintf(rawDecl, ta.Reveal(), tb.Reveal()), `"ProjectName": "x"`, `"ProjectName": "z"`, 1), false},
		{"the other action carried as read", onlyA, fmt.Sprintf(rawDecl, ta.Reveal(), masked), true},
		{"the other action given a token", onlyA, fmt.Sprintf(rawDecl, ta.Reveal(), tb.Reveal()), false},
		{"the other action emptied", onlyA, fmt.Sprintf(rawDecl, ta.Reveal(), ""), false},
		{"not JSON", both, "{", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := guard([]byte(tt.body), want, tt.plan, asRead)
			if (err == nil) != tt.ok {
				t.Fatalf("guard = %v, want ok %v", err, tt.ok)
			}
			if err != nil && (strings.Contains(err.Error(), ta.Reveal()) || strings.Contains(err.Error(), tb.Reveal())) {
				t.Errorf("guard error holds a token: %v", err)
			}
		})
	}
}

func TestMaskedElsewhere(t *testing.T) {
	gh := &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerThirdParty, Provider: aws.String("GitHub"), Version: aws.String("1")}
	custom := &types.ActionTypeId{Category: types.ActionCategoryBuild, Owner: types.ActionOwnerCustom, Provider: aws.String("Jenkins"), Version: aws.String("1")}
	d := &types.PipelineDeclaration{Stages: []types.StageDeclaration{
		{Name: aws.String("S"), Actions: []types.ActionDeclaration{{Name: aws.String("GH"), ActionTypeId: gh, Configuration: map[string]string{propToken: masked}}}},
		{Name: aws.String("B"), Actions: []types.ActionDeclaration{{Name: aws.String("J"), ActionTypeId: custom, Configuration: map[string]string{"Password": masked, "Url": "u"}}}},
	}}
	if d := cmp.Diff([]string{"B/J (Password)"}, maskedElsewhere(d)); d != "" {
		t.Errorf("maskedElsewhere (-want +got):\n%s", d)
	}
}
