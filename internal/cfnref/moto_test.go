package cfnref_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/emulator/motoserver"
	"github.com/rotor-ci/rotor/internal/rotation"
	ssmtarget "github.com/rotor-ci/rotor/internal/target/ssm"
	"github.com/rotor-ci/rotor/internal/token"
)

const (
	region  = "us-east-1"
	account = "123456789012" // moto's
)

// aws clients against one moto_server.
type clients struct {
	endpoint string
	cfg      awsx.Config
	cfn      *cloudformation.Client
	sm       *sm.Client
	ssm      *ssm.Client
	cp       *cp.Client
	roleARN  string
}

func newClients(t *testing.T, endpoint string) *clients {
	t.Helper()
	c := awsx.Config{Region: region, EndpointURL: endpoint, Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	cfg, err := awsx.Load(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return &clients{
		endpoint: endpoint, cfg: c,
		cfn: cloudformation.NewFromConfig(cfg), sm: sm.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), cp: cp.NewFromConfig(cfg),
		roleARN: motoserver.CreateRole(t, endpoint, "rotor-test-pipeline", motoserver.TrustPolicy),
	}
}

// TestAgainstMoto runs cfnref and the secret + pipeline pair against
// moto_server: one server for the package, each case with its own stack.
func TestAgainstMoto(t *testing.T) {
	ep := motoserver.Start(t)
	c := newClients(t, ep)
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *clients)
	}{
		{"Find_JSON", testFindJSON},
		{"Find_YAML", testFindYAML},
		{"Find_CDK", testFindCDK},
		{"Find_SSMSecure", testFindSSMSecure},
		{"Rotate_Pair", testRotatePair},
		{"Rotate_PairRollsBack", testRotatePairRollsBack},
		{"Canary", testCanary},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, c) })
	}
}

func createStack(t *testing.T, c *clients, name, body string, params map[string]string) {
	t.Helper()
	in := &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(body)}
	for k, v := range params {
		in.Parameters = append(in.Parameters, cftypesParam(k, v))
	}
	if _, err := c.cfn.CreateStack(context.Background(), in); err != nil {
		t.Fatalf("create stack %s: %v", name, err)
	}
}

func cftypesParam(k, v string) cftypes.Parameter {
	return cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)}
}

func createSecret(t *testing.T, c *clients, name, value string) {
	t.Helper()
	if _, err := c.sm.CreateSecret(context.Background(), &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		t.Fatal(err)
	}
}

// createPipeline makes the pipeline the stack declares. moto 5.2 creates
// no pipeline for an AWS::CodePipeline::Pipeline resource, and refuses
// aws: tags (as AWS does), so the stack's tag cannot be set here: the
// tests name the stack, as the codepipeline target does from the tag.
func createPipeline(t *testing.T, c *clients, name string, tok token.Token) {
	t.Helper()
	_, err := c.cp.CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: &cptypes.PipelineDeclaration{
		Name: aws.String(name), RoleArn: aws.String(c.roleARN),
		ArtifactStore: &cptypes.ArtifactStore{Type: cptypes.ArtifactStoreTypeS3, Location: aws.String("rotor-artifacts")},
		Stages: []cptypes.StageDeclaration{
			{Name: aws.String("Source"), Actions: []cptypes.ActionDeclaration{{
				Name:            aws.String("Source"),
				ActionTypeId:    &cptypes.ActionTypeId{Category: cptypes.ActionCategorySource, Owner: cptypes.ActionOwnerThirdParty, Provider: aws.String("GitHub"), Version: aws.String("1")},
				Configuration:   map[string]string{"Owner": "my-org", "Repo": "test-repo", "Branch": "main", "OAuthToken": tok.Reveal()},
				OutputArtifacts: []cptypes.OutputArtifact{{Name: aws.String("src")}},
			}}},
			{Name: aws.String("Build"), Actions: []cptypes.ActionDeclaration{{
				Name:           aws.String("Build"),
				ActionTypeId:   &cptypes.ActionTypeId{Category: cptypes.ActionCategoryBuild, Owner: cptypes.ActionOwnerAws, Provider: aws.String("CodeBuild"), Version: aws.String("1")},
				Configuration:  map[string]string{"ProjectName": "p"},
				InputArtifacts: []cptypes.InputArtifact{{Name: aws.String("src")}},
			}}},
		},
	}})
	if err != nil {
		t.Fatalf("create pipeline %s: %v", name, err)
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func find(t *testing.T, c *clients, stack, pipeline string) cfnref.Ref {
	t.Helper()
	ref, ok, err := cfnref.Find(context.Background(), c.cfn, stack, pipeline, "Source", "Source")
	if err != nil || !ok {
		t.Fatalf("Find(%s, %s) = ok %v, err %v", stack, pipeline, ok, err)
	}
	return ref
}

var ignoreWarnings = cmpopts.IgnoreFields(cfnref.Ref{}, "Warnings")

const jsonTemplate = `{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Parameters": {"SecretName": {"Type": "String", "Default": "ci/json"}},
  "Resources": {
    "Pipeline": {
      "Type": "AWS::CodePipeline::Pipeline",
      "Properties": {
        "Name": "json-pipeline",
        "RoleArn": "arn:aws:iam::123456789012:role/rotor-test-pipeline",
        "ArtifactStore": {"Type": "S3", "Location": "rotor-artifacts"},
        "Stages": [
          {"Name": "Source", "Actions": [{
            "Name": "Source",
            "ActionTypeId": {"Category": "Source", "Owner": "ThirdParty", "Provider": "GitHub", "Version": "1"},
            "OutputArtifacts": [{"Name": "src"}],
            "Configuration": {"Owner": "my-org", "Repo": "test-repo", "Branch": "main",
              "OAuthToken": {"Fn::Sub": "{{resolve:secretsmanager:${SecretName}:SecretString:token}}"}}
          }]}
        ]
      }
    }
  }
}`

func testFindJSON(t *testing.T, c *clients) {
	createSecret(t, c, "ci/json", `{"token":"x"}`)
	createStack(t, c, "json-stack", jsonTemplate, nil)
	got := find(t, c, "json-stack", "json-pipeline")
	want := cfnref.Ref{Kind: cfnref.KindSecretsManager, SecretID: "ci/json", JSONKey: "token",
		Text: "{{resolve:secretsmanager:ci/json:SecretString:token}}", Region: region, Account: account}
	if diff := cmp.Diff(want, got, ignoreWarnings); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
	if _, ok, err := cfnref.Find(context.Background(), c.cfn, "json-stack", "not-this-one", "Source", "Source"); ok || err != nil {
		t.Errorf("another pipeline: ok %v err %v, want not found", ok, err)
	}
	if _, _, err := cfnref.Find(context.Background(), c.cfn, "no-such-stack", "json-pipeline", "Source", "Source"); !errors.Is(err, cfnref.ErrStackNotFound) {
		t.Errorf("missing stack: %v, want ErrStackNotFound", err)
	}
}

func testFindYAML(t *testing.T, c *clients) {
	createStack(t, c, "yaml", readTestdata(t, "pipeline.yaml"), map[string]string{"SecretName": "ci/yaml"})
	got := find(t, c, "yaml", "yaml-pipeline")
	want := cfnref.Ref{Kind: cfnref.KindSecretsManager, SecretID: "ci/yaml", JSONKey: "token",
		Text: "{{resolve:secretsmanager:ci/yaml:SecretString:token}}", Region: region, Account: account}
	if diff := cmp.Diff(want, got, ignoreWarnings); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
}

// testFindCDK uses a CDK-synthesised template cut to one pipeline: moto
// lists no physical ids for pipelines, so two unnamed ones are ambiguous
// there (the fake in find_test.go covers that case).
func testFindCDK(t *testing.T, c *clients) {
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(readTestdata(t, "cdk.json")), &tmpl); err != nil {
		t.Fatal(err)
	}
	delete(tmpl["Resources"].(map[string]any), "Other1234")
	delete(tmpl, "Rules")
	body, _ := json.MarshalIndent(tmpl, "", " ")
	// The CDK's bootstrap version parameter reads SSM.
	if _, err := c.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String("/cdk-bootstrap/hnb659fds/version"), Value: aws.String("21"), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	createStack(t, c, "CiStack", string(body), nil)
	got := find(t, c, "CiStack", "CiStack-PipelineC660917D-1A2B3C")
	want := cfnref.Ref{Kind: cfnref.KindSecretsManager, SecretID: "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-token", JSONKey: "token",
		Text: "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:github-token:SecretString:token::}}", Region: region, Account: account}
	if diff := cmp.Diff(want, got, ignoreWarnings); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
}

func testFindSSMSecure(t *testing.T, c *clients) {
	body := strings.Replace(jsonTemplate, `{"Fn::Sub": "{{resolve:secretsmanager:${SecretName}:SecretString:token}}"}`, `"{{resolve:ssm-secure:/ci/token}}"`, 1)
	createStack(t, c, "ssm-stack", body, nil)
	got := find(t, c, "ssm-stack", "json-pipeline")
	want := cfnref.Ref{Kind: cfnref.KindSSM, Param: "/ci/token", Secure: true, Text: "{{resolve:ssm-secure:/ci/token}}", Region: region, Account: account}
	if diff := cmp.Diff(want, got, ignoreWarnings); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
	// rotor plan with an ssm target first: safe.
	if _, err := c.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String("/ci/token"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	tg, err := ssmtarget.New(context.Background(), ssmtarget.Config{AWS: c.cfg, Name: "/ci/token"})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	action := rotation.Binding{ID: "codepipeline:us-east-1:json-pipeline/Source/Source", Target: "codepipeline"}
	if f := cfnref.Assess("ssm-stack", got, true, action, append(bs, action), tg.Held); !f.Safe {
		t.Errorf("Assess: not safe: %q", f.Warnings)
	}
}
