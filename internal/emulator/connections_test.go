package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cc "github.com/aws/aws-sdk-go-v2/service/codeconnections"
	cctypes "github.com/aws/aws-sdk-go-v2/service/codeconnections/types"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/emulator"
)

// connectionsWorld is the seed world plus a second repository the
// connector will not be installed on, and two roles of the default
// account: one whose policy allows only codestar-connections:UseConnection
// and one without it.
func connectionsWorld(t *testing.T) emulator.World {
	t.Helper()
	w := emulator.DefaultWorld()
	src := `
github:
  users: [{login: MyGitHubUserName}]
  repos:
    - {owner: MyGitHubUserName, name: test-repo, private: true, branches: [master]}
    - {owner: MyGitHubUserName, name: hidden-repo, private: true, branches: [master]}
  tokens: [{user: MyGitHubUserName, kind: classic, note: codepipeline, scopes: [repo, "admin:repo_hook"]}]
aws:
  accounts:
    - id: "123456789012"
      roles:
        - name: legacy-prefix-only
          policies: [{Statement: [{Effect: Allow, Action: ["codepipeline:*", "codestar-connections:UseConnection"], Resource: "*"}]}]
        - name: no-connections
          policies: [{Statement: [{Effect: Allow, Action: "codepipeline:*", Resource: "*"}]}]
`
	parsed, err := emulator.ParseWorld("connections.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	w.GitHub, w.AWS = parsed.GitHub, parsed.AWS
	w.GitHub.Apps = nil
	return w
}

// v2Pipeline is the seed pipeline with the GitHub (version 2) action.
func v2Pipeline(name, role, connection, repo, branch string) *types.PipelineDeclaration {
	return &types.PipelineDeclaration{
		Name:          aws.String(name),
		RoleArn:       aws.String("arn:aws:iam::123456789012:role/" + role),
		ArtifactStore: &types.ArtifactStore{Type: types.ArtifactStoreTypeS3, Location: aws.String("codepipeline-us-east-1-1234567890")},
		Stages: []types.StageDeclaration{
			{Name: aws.String("Source"), Actions: []types.ActionDeclaration{{
				Name:         aws.String("Source"),
				ActionTypeId: &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerAws, Provider: aws.String("CodeStarSourceConnection"), Version: aws.String("1")},
				Configuration: map[string]string{"ConnectionArn": connection, "FullRepositoryId": emulator.SeedUser + "/" + repo, "BranchName": branch,
					"OutputArtifactFormat": "CODE_ZIP", "DetectChanges": "false"},
				OutputArtifacts: []types.OutputArtifact{{Name: aws.String("SourceArtifact")}},
				Namespace:       aws.String("SourceVariables"),
			}}},
			{Name: aws.String("Build"), Actions: []types.ActionDeclaration{{
				Name:           aws.String("Build"),
				ActionTypeId:   &types.ActionTypeId{Category: types.ActionCategoryBuild, Owner: types.ActionOwnerAws, Provider: aws.String("CodeBuild"), Version: aws.String("1")},
				Configuration:  map[string]string{"ProjectName": "test-project"},
				InputArtifacts: []types.InputArtifact{{Name: aws.String("SourceArtifact")}},
			}}},
		},
	}
}

// sourceError is the Source action's error message in GetPipelineState.
func sourceError(t *testing.T, c *cp.Client, name string) string {
	t.Helper()
	st, err := c.GetPipelineState(context.Background(), &cp.GetPipelineStateInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	le := st.StageStates[0].ActionStates[0].LatestExecution
	if le == nil || le.ErrorDetails == nil {
		return ""
	}
	return aws.ToString(le.ErrorDetails.Message)
}

// TestConnectionSource: the GitHub (version 2) action fetches through a
// connection once the handshake made it AVAILABLE, builds the same commit
// as the version 1 action on the same branch, and fails with AWS's message
// when the connection is PENDING, the role lacks UseConnection for the
// connection's service prefix, the installation cannot see the repository,
// or the branch does not exist.
func TestConnectionSource(t *testing.T) {
	sb := startSandbox(t, emulator.Config{World: connectionsWorld(t), PollInterval: -1})
	ctx := context.Background()
	conns := cc.New(cc.Options{BaseEndpoint: aws.String(sb.AWSURL), Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	created, err := conns.CreateConnection(ctx, &cc.CreateConnectionInput{ConnectionName: aws.String("github"), ProviderType: cctypes.ProviderTypeGithub})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ConnectionArn)
	pipelines := client(sb.AWSURL)
	if _, err := pipelines.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: v2Pipeline("V2", "AWS-CodePipeline-Service", arn, emulator.SeedRepo, emulator.SeedBranch)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first execution of V2 to fail", func() bool { return !sb.CodePipeline.Busy("V2") })
	if msg := sourceError(t, pipelines, "V2"); !strings.Contains(msg, "is not available: its status is PENDING") {
		t.Errorf("PENDING connection: %q", msg)
	}

	// The console's handshake, on test-repo only.
	body, _ := json.Marshal(map[string]any{"connection_arn": arn, "github_account": emulator.SeedUser, "repositories": []string{emulator.SeedRepo}})
	resp, err := http.Post(sb.AWSURL+"/_emulator/connections/handshake", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	resp.Body.Close()

	if got := runExecution(t, pipelines, "V2"); got != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("V2 after the handshake: %s (%s)", got, sourceError(t, pipelines, "V2"))
	}
	if got := runExecution(t, pipelines, emulator.SeedPipeline); got != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("the version 1 pipeline: %s", got)
	}
	// Both built the same commit: the execution records say so, and so
	// does the API.
	revisions := map[string]string{}
	for _, e := range sb.CodePipeline.Executions() {
		if e.Status == "Succeeded" {
			revisions[e.Pipeline] = e.Revisions["Source"]
		}
	}
	if revisions["V2"] == "" || revisions["V2"] != revisions[emulator.SeedPipeline] {
		t.Errorf("revisions %v, want the same commit for both", revisions)
	}
	execs, err := pipelines.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: aws.String("V2"), MaxResults: aws.Int32(1)})
	if err != nil || len(execs.PipelineExecutionSummaries[0].SourceRevisions) != 1 || aws.ToString(execs.PipelineExecutionSummaries[0].SourceRevisions[0].RevisionId) != revisions["V2"] {
		t.Errorf("ListPipelineExecutions source revisions: %+v %v", execs, err)
	}
	// Output variables: version 2 has no CommitUrl, RepositoryName or
	// CommitterDate; version 1 has CommitUrl and RepositoryName.
	vars := func(name string) map[string]string {
		out, err := pipelines.ListActionExecutions(ctx, &cp.ListActionExecutionsInput{PipelineName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range out.ActionExecutionDetails {
			if aws.ToString(d.ActionName) == "Source" && d.Status == types.ActionExecutionStatusSucceeded {
				return d.Output.OutputVariables
			}
		}
		t.Fatalf("%s: no succeeded source action execution", name)
		return nil
	}
	v2, v1 := vars("V2"), vars(emulator.SeedPipeline)
	for _, k := range []string{"CommitUrl", "RepositoryName", "CommitterDate"} {
		if _, ok := v2[k]; ok {
			t.Errorf("version 2 output variable %s: %v", k, v2)
		}
	}
	if v2["CommitId"] != revisions["V2"] || v2["FullRepositoryName"] != emulator.SeedUser+"/"+emulator.SeedRepo || v2["ConnectionArn"] != arn {
		t.Errorf("version 2 output variables %v", v2)
	}
	if v1["CommitUrl"] == "" || v1["RepositoryName"] != emulator.SeedRepo || v1["CommitterDate"] == "" {
		t.Errorf("version 1 output variables %v", v1)
	}
	// AuthorDate is both versions', ISO 8601, the commit's time.
	if at, err := time.Parse(time.RFC3339, v2["AuthorDate"]); err != nil || at.IsZero() || v2["AuthorDate"] != v1["AuthorDate"] {
		t.Errorf("AuthorDate: version 2 %q, version 1 %q (%v)", v2["AuthorDate"], v1["AuthorDate"], err)
	}

	for _, tt := range []struct{ name, role, repo, branch, want string }{
		{"NoUseConnection", "no-connections", emulator.SeedRepo, emulator.SeedBranch, "Unable to use Connection: " + arn + ". The provided role does not have sufficient permissions."},
		{"WrongPrefix", "legacy-prefix-only", emulator.SeedRepo, emulator.SeedBranch, "Unable to use Connection: " + arn},
		{"HiddenRepo", "AWS-CodePipeline-Service", "hidden-repo", emulator.SeedBranch, "Could not access the repository MyGitHubUserName/hidden-repo"},
		{"NoBranch", "AWS-CodePipeline-Service", emulator.SeedRepo, "nope", "No Branch [nope] found for FullRepositoryName [MyGitHubUserName/test-repo]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pipelines.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: v2Pipeline(tt.name, tt.role, arn, tt.repo, tt.branch)}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, tt.name+"'s first execution", func() bool { return !sb.CodePipeline.Busy(tt.name) })
			if msg := sourceError(t, pipelines, tt.name); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want %q", msg, tt.want)
			}
		})
	}
}

// TestConnectionSource_Validation: the action's configuration is checked as
// CreatePipeline checks it.
func TestConnectionSource_Validation(t *testing.T) {
	sb := startSandbox(t, emulator.Config{World: emulator.DefaultWorld(), PollInterval: -1})
	ctx := context.Background()
	arn := "arn:aws:codeconnections:us-east-1:123456789012:connection/0000"
	for _, tt := range []struct {
		name   string
		mutate func(map[string]string)
		want   string
	}{
		{"missing ConnectionArn", func(c map[string]string) { delete(c, "ConnectionArn") }, "missing required configuration 'ConnectionArn'"},
		{"bad FullRepositoryId", func(c map[string]string) { c["FullRepositoryId"] = "just-a-name" }, "invalid value for configuration 'FullRepositoryId'"},
		{"bad format", func(c map[string]string) { c["OutputArtifactFormat"] = "TAR" }, "invalid value for configuration 'OutputArtifactFormat'"},
		{"unknown key", func(c map[string]string) { c["OAuthToken"] = "x" }, "unknown configuration 'OAuthToken'"},
	} {
		d := v2Pipeline("P", "AWS-CodePipeline-Service", arn, emulator.SeedRepo, emulator.SeedBranch)
		tt.mutate(d.Stages[0].Actions[0].Configuration)
		_, err := client(sb.AWSURL).CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: d})
		var iad *types.InvalidActionDeclarationException
		if !errors.As(err, &iad) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want InvalidActionDeclarationException %q", tt.name, err, tt.want)
		}
	}
}
