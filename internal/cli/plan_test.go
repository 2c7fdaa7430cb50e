package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/plan"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// TestCLI_PlanWarnings builds an account where one credential serves two
// pipelines, a third pipeline's GitHub action belongs to nobody, and one
// action is claimed by two credentials; plan must name each.
func TestCLI_PlanWarnings(t *testing.T) {
	e := newE2E(t, "10m")
	for _, name := range []string{"SecondApp", "Orphan"} {
		e.clonePipeline(name, e.tokens[0])
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "pipelines: [MyFirstPipeline]}", "pipelines: [MyFirstPipeline, SecondApp]}", 1) + `  - name: second
    application: SecondApp
    source: {type: personal-token}
    targets:
      - {type: codepipeline, pipelines: [SecondApp]}
`
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := e.rotor("", "plan", "-o", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	var r plan.Report
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &r); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	kinds := map[string]string{}
	for _, w := range r.Warnings {
		kinds[w.Kind] += w.Binding + " " + w.Message + "\n"
	}
	for kind, want := range map[string]string{
		"Shared":      "MyFirstPipeline, SecondApp",
		"DoubleBound": "SecondApp/Source/Source",
		"Unmanaged":   "Orphan",
	} {
		if !strings.Contains(kinds[kind], want) {
			t.Errorf("no %s warning naming %q; warnings:\n%s", kind, want, fmt.Sprint(kinds))
		}
	}
	if strings.Contains(kinds["Unmanaged"], "MyFirstPipeline") {
		t.Errorf("a held action is reported unmanaged: %s", kinds["Unmanaged"])
	}
	if len(r.Credentials) != 2 || len(r.Credentials[0].Bindings) != 3 {
		t.Fatalf("credentials/bindings: %+v", r.Credentials)
	}
	e.canary()
}

// fakeCFN serves one stack's template to plan.
type fakeCFN struct{ stack, template string }

func (f fakeCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{{StackName: aws.String(f.stack), StackId: aws.String("arn:aws:cloudformation:us-east-1:123456789012:stack/" + f.stack + "/1")}}}, nil
}

func (f fakeCFN) GetTemplate(context.Context, *cloudformation.GetTemplateInput, ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	return &cloudformation.GetTemplateOutput{TemplateBody: aws.String(f.template)}, nil
}

func (f fakeCFN) ListStackResources(context.Context, *cloudformation.ListStackResourcesInput, ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error) {
	return &cloudformation.ListStackResourcesOutput{StackResourceSummaries: []cftypes.StackResourceSummary{{LogicalResourceId: aws.String("Pipeline"), PhysicalResourceId: aws.String("MyFirstPipeline"), ResourceType: aws.String("AWS::CodePipeline::Pipeline")}}}, nil
}

// TestPlan_CloudFormation: plan reads the template of a stack-managed
// pipeline and warns about a literal token or a secret nobody rotates (the
// safe pair, secret rotated first, is cfnref.Assess's own test).
func TestPlan_CloudFormation(t *testing.T) {
	e := newE2E(t, "10m")
	if err := e.sb.CodePipeline.ManageByStack("MyFirstPipeline", "ci-stack"); err != nil {
		t.Fatal(err)
	}
	const tmpl = `Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: MyFirstPipeline
      Stages:
        - Name: Source
          Actions:
            - Name: Source
              ActionTypeId: {Category: Source, Owner: ThirdParty, Provider: GitHub, Version: "1"}
              Configuration:
                Owner: MyGitHubUserName
                Repo: test-repo
                Branch: master
                OAuthToken: %s
`
	for _, tt := range []struct {
		name      string
		oauth     string
		wantKind  string
		wantWords string
	}{
		{"literal token in the template", "ghp_" + strings.Repeat("x", 36), "CloudFormation", "holds the token itself"},
		{"secret nobody rotates", "'{{resolve:secretsmanager:ci/github:SecretString:token}}'", "CloudFormation", "ci/github"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := fakeCFN{stack: "ci-stack", template: fmt.Sprintf(tmpl, tt.oauth)}
			e.wiring = []wiring.Option{wiring.WithCloudFormation(func(context.Context, awsx.Config) (cfnref.API, error) { return api, nil })}
			code, out := e.rotor("", "plan", "-o", "json")
			if code != 0 && code != 1 {
				t.Fatalf("plan: exit %d\n%s", code, out)
			}
			var r plan.Report
			if err := json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &r); err != nil {
				t.Fatalf("plan -o json: %v\n%s", err, out)
			}
			var msgs []string
			for _, w := range r.Warnings {
				if w.Kind == tt.wantKind {
					msgs = append(msgs, w.Message)
				}
			}
			if !strings.Contains(strings.Join(msgs, "\n"), tt.wantWords) {
				t.Fatalf("no %s warning mentioning %q: %v", tt.wantKind, tt.wantWords, r.Warnings)
			}
		})
	}
}
