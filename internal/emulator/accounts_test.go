package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rotor-ci/rotor/internal/emulator"
)

// accountsWorld is the seed world plus a dev account in eu-west-1 that the
// default account reaches through a role with an external id.
func accountsWorld(t *testing.T) emulator.World {
	t.Helper()
	pipeline := strings.ReplaceAll(string(emulator.GitHubPipeline("DevPipeline", emulator.SeedUser, emulator.SeedRepo, emulator.SeedBranch, emulator.SeedTokenNote)), "123456789012", "111111111111")
	src := `
github:
  users: [{login: MyGitHubUserName}]
  repos: [{owner: MyGitHubUserName, name: test-repo, private: true, branches: [master]}]
  tokens: [{user: MyGitHubUserName, kind: classic, note: codepipeline, scopes: [repo, "admin:repo_hook"]}]
codepipeline:
  pipelines: [` + string(emulator.GitHubPipeline(emulator.SeedPipeline, emulator.SeedUser, emulator.SeedRepo, emulator.SeedBranch, emulator.SeedTokenNote)) + `]
  regions:
    - account: "111111111111"
      region: eu-west-1
      pipelines: [` + pipeline + `]
      faults: [{operation: ListPipelines, latency: 1ms}]
aws:
  accounts:
    - id: "111111111111"
      name: dev
      roles:
        - name: rotor
          trust_policy:
            Statement:
              - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: "sts:AssumeRole", Condition: {StringEquals: {"sts:ExternalId": rotor-ext}}}
  organization: {}
`
	w, err := emulator.ParseWorld("accounts.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestSandbox_AccountsThroughOneEndpoint: an SDK client assumes a role in
// another account through STS on the AWS endpoint and reaches that
// account's pipelines in its region; executions there fetch from GitHub.
func TestSandbox_AccountsThroughOneEndpoint(t *testing.T) {
	sb := startSandbox(t, emulator.Config{World: accountsWorld(t), PollInterval: -1})
	ctx := context.Background()
	base := credentials.NewStaticCredentialsProvider("AKIABASE000000000000", "x", "")
	stsClient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(sb.AWSURL), Credentials: base})
	role := stscreds.NewAssumeRoleProvider(stsClient, "arn:aws:iam::111111111111:role/rotor", func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String("rotor-ext")
	})
	dev := cp.New(cp.Options{Region: "eu-west-1", BaseEndpoint: aws.String(sb.AWSURL), Credentials: aws.NewCredentialsCache(role)})
	out, err := dev.ListPipelines(ctx, &cp.ListPipelinesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Pipelines) != 1 || aws.ToString(out.Pipelines[0].Name) != "DevPipeline" {
		t.Fatalf("dev eu-west-1 pipelines %+v", out.Pipelines)
	}
	if got := runExecution(t, dev, "DevPipeline"); got != types.PipelineExecutionStatusSucceeded {
		t.Errorf("DevPipeline execution %s", got)
	}
	// The same role without the external id is refused with AWS's message.
	bad := stscreds.NewAssumeRoleProvider(stsClient, "arn:aws:iam::111111111111:role/rotor")
	_, err = cp.New(cp.Options{Region: "eu-west-1", BaseEndpoint: aws.String(sb.AWSURL), Credentials: aws.NewCredentialsCache(bad)}).ListPipelines(ctx, &cp.ListPipelinesInput{})
	if err == nil || !strings.Contains(err.Error(), "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/rotor") {
		t.Errorf("no external id: %v", err)
	}
	// The default account still sees only its own pipeline.
	home, err := client(sb.AWSURL).ListPipelines(ctx, &cp.ListPipelinesInput{})
	if err != nil || len(home.Pipelines) != 1 || aws.ToString(home.Pipelines[0].Name) != emulator.SeedPipeline {
		t.Errorf("default account: %+v %v", home, err)
	}
}

// TestSandbox_AccountsAWSCLI: the real AWS CLI reaches the other account
// with a profile that assumes the role (role_arn, external_id,
// source_profile) and AWS_ENDPOINT_URL, nothing else.
func TestSandbox_AccountsAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("SKIP: aws CLI not on PATH: the multi-account CLI run was not made")
	}
	sb := startSandbox(t, emulator.Config{World: accountsWorld(t), PollInterval: -1})
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("config", "[profile base]\nregion = us-east-1\n\n[profile dev]\nrole_arn = arn:aws:iam::111111111111:role/rotor\nexternal_id = rotor-ext\nsource_profile = base\nregion = eu-west-1\n")
	creds := write("credentials", "[base]\naws_access_key_id = AKIABASE000000000000\naws_secret_access_key = x\n")
	aws := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command("aws", args...)
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "HOME="+dir, "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE="+creds,
			"AWS_ENDPOINT_URL="+sb.AWSURL, "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, stderr.String())
		}
		var out map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, stdout.String())
		}
		return out
	}
	if id := aws("sts", "get-caller-identity", "--profile", "dev"); id["Account"] != "111111111111" || !strings.HasPrefix(id["Arn"].(string), "arn:aws:sts::111111111111:assumed-role/rotor/") {
		t.Errorf("get-caller-identity --profile dev: %v", id)
	}
	list := aws("codepipeline", "list-pipelines", "--profile", "dev")
	if ps, _ := list["pipelines"].([]any); len(ps) != 1 || ps[0].(map[string]any)["name"] != "DevPipeline" {
		t.Errorf("list-pipelines --profile dev: %v", list)
	}
	accts := aws("organizations", "list-accounts", "--profile", "base")
	if as, _ := accts["Accounts"].([]any); len(as) != 2 {
		t.Errorf("organizations list-accounts: %v", accts)
	}
	// CodeConnections under both names: a connection created in dev's
	// eu-west-1 is PENDING and listed by the older name too.
	created := aws("codeconnections", "create-connection", "--provider-type", "GitHub", "--connection-name", "dev-github", "--profile", "dev")
	arn, _ := created["ConnectionArn"].(string)
	if !strings.HasPrefix(arn, "arn:aws:codeconnections:eu-west-1:111111111111:connection/") {
		t.Fatalf("create-connection: %v", created)
	}
	got := aws("codestar-connections", "get-connection", "--connection-arn", arn, "--profile", "dev")
	if c, _ := got["Connection"].(map[string]any); c["ConnectionStatus"] != "PENDING" {
		t.Errorf("get-connection: %v", got)
	}
}
