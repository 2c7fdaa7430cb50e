package cfnref

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rotor-ci/rotor/internal/token"
)

const stackID = "arn:aws:cloudformation:eu-west-1:111122223333:stack/ci/0f0fcc8a"

// fakeCFN is one stack, as DescribeStacks, GetTemplate and
// ListStackResources show it.
type fakeCFN struct {
	template  string // Original
	processed string // Processed; empty: same as template
	params    []types.Parameter
	resources map[string]string // logical id → physical id of pipelines
	missing   bool
	calls     []string
}

func (f *fakeCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	f.calls = append(f.calls, "DescribeStacks")
	if f.missing {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []types.Stack{{StackId: aws.String(stackID), StackName: in.StackName, Parameters: f.params}}}, nil
}

func (f *fakeCFN) GetTemplate(_ context.Context, in *cloudformation.GetTemplateInput, _ ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	f.calls = append(f.calls, "GetTemplate:"+string(in.TemplateStage))
	if in.TemplateStage == types.TemplateStageProcessed && f.processed != "" {
		return &cloudformation.GetTemplateOutput{TemplateBody: aws.String(f.processed)}, nil
	}
	return &cloudformation.GetTemplateOutput{TemplateBody: aws.String(f.template)}, nil
}

func (f *fakeCFN) ListStackResources(_ context.Context, _ *cloudformation.ListStackResourcesInput, _ ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error) {
	out := &cloudformation.ListStackResourcesOutput{}
	for l, p := range f.resources {
		out.StackResourceSummaries = append(out.StackResourceSummaries, types.StackResourceSummary{
			LogicalResourceId: aws.String(l), PhysicalResourceId: aws.String(p), ResourceType: aws.String(pipelineType),
		})
	}
	return out, nil
}

func testdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pipelineJSON is a one-pipeline JSON template whose OAuthToken is tok
// (a JSON value) and whose Name is name (a JSON value, or "" for none).
func pipelineJSON(name, tok string) string {
	n := ""
	if name != "" {
		n = `"Name": ` + name + `,`
	}
	return `{
  "Parameters": {
    "Token": {"Type": "String", "NoEcho": true},
    "Shown": {"Type": "String"},
    "SSMToken": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/ci/token"},
    "SecretName": {"Type": "String", "Default": "ci/gh"}
  },
  "Resources": {
    "Pipe": {
      "Type": "AWS::CodePipeline::Pipeline",
      "Properties": {` + n + `
        "Stages": [
          {"Name": "Source", "Actions": [{"Name": "Source", "Configuration": {"Owner": "o", "Repo": "r", "Branch": "main", "OAuthToken": ` + tok + `}}]},
          {"Name": "Build", "Actions": [{"Name": "B", "Configuration": {"ProjectName": "p"}}]}
        ]
      }
    }
  }
}`
}

func TestFind(t *testing.T) {
	const lit = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	stackParams := []types.Parameter{
		{ParameterKey: aws.String("Token"), ParameterValue: aws.String("****")},
		{ParameterKey: aws.String("Shown"), ParameterValue: aws.String("visible")},
		// ResolvedValue is what the SSM parameter holds: it must never
		// reach a Ref.
		{ParameterKey: aws.String("SSMToken"), ParameterValue: aws.String("/ci/token"), ResolvedValue: aws.String(lit)},
	}
	tests := []struct {
		name      string
		cfn       *fakeCFN
		pipeline  string
		want      Ref
		ok        bool
		err       error
		warnings  int
		wantCalls []string
	}{
		{
			name: "json, literal name, secret with key",
			cfn:  &fakeCFN{template: pipelineJSON(`"build"`, `"{{resolve:secretsmanager:ci/gh:SecretString:token}}"`)},
			want: Ref{Kind: KindSecretsManager, SecretID: "ci/gh", JSONKey: "token", Text: "{{resolve:secretsmanager:ci/gh:SecretString:token}}"},
			ok:   true,
		},
		{
			name:     "json, Fn::Sub name and reference from parameter defaults",
			cfn:      &fakeCFN{template: pipelineJSON(`{"Fn::Sub": "${AWS::StackName}-build"}`, `{"Fn::Sub": "{{resolve:secretsmanager:${SecretName}:SecretString:token}}"}`)},
			pipeline: "ci-build",
			want:     Ref{Kind: KindSecretsManager, SecretID: "ci/gh", JSONKey: "token", Text: "{{resolve:secretsmanager:ci/gh:SecretString:token}}"},
			ok:       true,
		},
		{
			name: "matched by physical id, no Name",
			cfn:  &fakeCFN{template: pipelineJSON("", `"{{resolve:ssm-secure:/ci/gh}}"`), resources: map[string]string{"Pipe": "build"}},
			want: Ref{Kind: KindSSM, Param: "/ci/gh", Secure: true, Text: "{{resolve:ssm-secure:/ci/gh}}"},
			ok:   true,
		},
		{
			name: "physical id of another pipeline",
			cfn:  &fakeCFN{template: pipelineJSON(`"build"`, `"{{resolve:ssm-secure:/ci/gh}}"`), resources: map[string]string{"Pipe": "other"}},
			ok:   false,
		},
		{
			name: "another Name",
			cfn:  &fakeCFN{template: pipelineJSON(`"other"`, `"{{resolve:ssm-secure:/ci/gh}}"`)},
			ok:   false,
		},
		{
			name: "the only pipeline, name unknown",
			cfn:  &fakeCFN{template: pipelineJSON("", `"{{resolve:ssm-secure:/ci/gh}}"`)},
			want: Ref{Kind: KindSSM, Param: "/ci/gh", Secure: true, Text: "{{resolve:ssm-secure:/ci/gh}}"},
			ok:   true,
		},
		{
			name:     "literal token",
			cfn:      &fakeCFN{template: pipelineJSON(`"build"`, `"`+lit+`"`)},
			want:     Ref{Kind: KindLiteral, Literal: true, LiteralFingerprint: token.Fingerprint(lit)},
			ok:       true,
			warnings: 1,
		},
		{
			name:     "NoEcho stack parameter",
			cfn:      &fakeCFN{template: pipelineJSON(`"build"`, `{"Ref": "Token"}`), params: stackParams},
			want:     Ref{Kind: KindStackParameter, StackParameter: "Token", NoEcho: true},
			ok:       true,
			warnings: 1,
		},
		{
			name:     "shown stack parameter",
			cfn:      &fakeCFN{template: pipelineJSON(`"build"`, `{"Ref": "Shown"}`), params: stackParams},
			want:     Ref{Kind: KindStackParameter, StackParameter: "Shown"},
			ok:       true,
			warnings: 2,
		},
		{
			name:     "SSM-typed stack parameter",
			cfn:      &fakeCFN{template: pipelineJSON(`"build"`, `{"Ref": "SSMToken"}`), params: stackParams},
			want:     Ref{Kind: KindSSM, Param: "/ci/token", StackParameter: "SSMToken"},
			ok:       true,
			warnings: 1,
		},
		{
			name: "reference built from a NoEcho parameter",
			cfn:  &fakeCFN{template: pipelineJSON(`"build"`, `{"Fn::Sub": "{{resolve:secretsmanager:${Token}}}"}`), params: stackParams},
			ok:   true,
			err:  ErrUnresolved,
		},
		{
			name: "token imported from another stack",
			cfn:  &fakeCFN{template: pipelineJSON(`"build"`, `{"Fn::ImportValue": "shared"}`)},
			ok:   true,
			err:  ErrUnsupported,
		},
		{
			name: "no OAuthToken",
			cfn:  &fakeCFN{template: strings.Replace(pipelineJSON(`"build"`, `"x"`), `, "OAuthToken": "x"`, ``, 1)},
			ok:   true,
			err:  ErrNotDeclared,
		},
		{
			name: "stack missing",
			cfn:  &fakeCFN{missing: true},
			err:  ErrStackNotFound,
		},
		{
			name:      "transform: the processed template",
			cfn:       &fakeCFN{template: `{"Transform": "AWS::Serverless-2016-10-31", "Resources": {}}`, processed: pipelineJSON(`"build"`, `"{{resolve:secretsmanager:ci/gh}}"`)},
			want:      Ref{Kind: KindSecretsManager, SecretID: "ci/gh", Text: "{{resolve:secretsmanager:ci/gh}}"},
			ok:        true,
			wantCalls: []string{"DescribeStacks", "GetTemplate:Original", "GetTemplate:Processed"},
		},
		{
			name:     "yaml with short forms",
			cfn:      &fakeCFN{template: testdata(t, "pipeline.yaml"), params: []types.Parameter{{ParameterKey: aws.String("SecretName"), ParameterValue: aws.String("ci/gh")}}},
			pipeline: "ci-pipeline",
			want:     Ref{Kind: KindSecretsManager, SecretID: "ci/gh", JSONKey: "token", Text: "{{resolve:secretsmanager:ci/gh:SecretString:token}}"},
			ok:       true,
		},
		{
			name:     "cdk: secret by partial ARN from Fn::Join",
			cfn:      &fakeCFN{template: testdata(t, "cdk.json"), resources: map[string]string{"PipelineC660917D": "cdk-pipeline", "Other1234": "cdk-other"}},
			pipeline: "cdk-pipeline",
			want: Ref{Kind: KindSecretsManager, SecretID: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:github-token",
				JSONKey: "token", Text: "{{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:111122223333:secret:github-token:SecretString:token::}}"},
			ok: true,
		},
		{
			name:     "cdk: secret created in the same stack",
			cfn:      &fakeCFN{template: testdata(t, "cdk.json"), resources: map[string]string{"PipelineC660917D": "cdk-pipeline", "Other1234": "cdk-other", "GitHubSecret5A2B1C": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:GitHubSecret-AbCdEf"}},
			pipeline: "cdk-other",
			want: Ref{Kind: KindSecretsManager, SecretID: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:GitHubSecret-AbCdEf",
				JSONKey: "token", Text: "{{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:111122223333:secret:GitHubSecret-AbCdEf:SecretString:token::}}"},
			ok: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pipeline := tt.pipeline
			if pipeline == "" {
				pipeline = "build"
			}
			got, ok, err := Find(context.Background(), tt.cfn, "ci", pipeline, "Source", "Source")
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if err != nil {
				if strings.Contains(err.Error(), lit) {
					t.Errorf("error holds the token")
				}
				return
			}
			if ok {
				tt.want.Region, tt.want.Account = "eu-west-1", "111122223333"
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Ref{}, "Warnings")); diff != "" {
				t.Errorf("Find (-want +got):\n%s", diff)
			}
			if len(got.Warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", got.Warnings, tt.warnings)
			}
			if strings.Contains(strings.Join(got.Warnings, " "), lit) {
				t.Errorf("a warning holds the token")
			}
			if tt.wantCalls != nil {
				if diff := cmp.Diff(tt.wantCalls, tt.cfn.calls); diff != "" {
					t.Errorf("calls (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestFind_StageAndAction(t *testing.T) {
	cfn := &fakeCFN{template: pipelineJSON(`"build"`, `"{{resolve:secretsmanager:ci/gh}}"`)}
	for _, sa := range [][2]string{{"Deploy", "Source"}, {"Source", "Other"}} {
		_, ok, err := Find(context.Background(), cfn, "ci", "build", sa[0], sa[1])
		if !ok || !errors.Is(err, ErrNotDeclared) {
			t.Errorf("%s/%s: ok %v, err %v; want ok and ErrNotDeclared", sa[0], sa[1], ok, err)
		}
	}
}
