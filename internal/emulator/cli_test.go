package emulator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
	"github.com/rotor-ci/rotor/internal/emulator/github"
)

// awsCLI runs the real AWS CLI against the emulator with dummy credentials
// and an empty configuration, and fails the test if any output holds a
// secret.
type awsCLI struct {
	t        *testing.T
	dir      string
	endpoint string
	secrets  []ghtoken.Token
}

func newAWSCLI(t *testing.T, endpoint string) *awsCLI {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("SKIP: aws CLI not on PATH (pip install awscli): the seed procedure was not run with the real CLI")
	}
	dir := t.TempDir()
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &awsCLI{t: t, dir: dir, endpoint: endpoint}
}

// run returns stdout, stderr and whether the command succeeded.
func (a *awsCLI) run(args ...string) (string, string, bool) {
	a.t.Helper()
	cmd := exec.Command("aws", append(append([]string{"codepipeline"}, args...), "--endpoint-url", a.endpoint)...)
	cmd.Dir = a.dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"HOME="+a.dir,
		"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(a.dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(a.dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		a.t.Fatalf("aws %v: %v", args, err)
	}
	for _, s := range a.secrets {
		if strings.Contains(stdout.String()+stderr.String(), s.Reveal()) {
			a.t.Fatalf("aws %v printed a token value", args)
		}
	}
	return stdout.String(), stderr.String(), err == nil
}

// must runs a command that must succeed and decodes its JSON output.
func (a *awsCLI) must(out any, args ...string) {
	a.t.Helper()
	stdout, stderr, ok := a.run(args...)
	if !ok {
		a.t.Fatalf("aws %v failed: %s", args, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			a.t.Fatalf("aws %v: output is not JSON: %v\n%s", args, err, stdout)
		}
	}
}

func (a *awsCLI) file(name string, data []byte) string {
	a.t.Helper()
	p := filepath.Join(a.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		a.t.Fatal(err)
	}
	return "file://" + p
}

// TestSeedProcedure_AWSCLI follows the seed procedure with the real AWS CLI:
// create the pipeline, get it into pipeline.json (token masked, metadata
// present), paste a new token, see update-pipeline refuse the metadata,
// remove it, update (version + 1), list with paging, run the pipeline.
func TestSeedProcedure_AWSCLI(t *testing.T) {
	w := emulator.DefaultWorld()
	seed := string(w.CodePipeline.Pipelines[0].JSON)
	noPoll := strings.Replace(seed, `"Branch": "master",`, `"Branch": "master", "PollForSourceChanges": "false",`, 1)
	w.CodePipeline.Pipelines = []codepipeline.PipelineSpec{
		{JSON: []byte(strings.Replace(noPoll, emulator.SeedPipeline, "Extra-1", 1))},
		{JSON: []byte(strings.Replace(noPoll, emulator.SeedPipeline, "Extra-2", 1))},
	}
	sb := startSandbox(t, emulator.Config{World: w, PollInterval: -1})
	cli := newAWSCLI(t, sb.CodePipelineURL)
	old, _ := sb.Token(emulator.SeedTokenNote)
	cli.secrets = append(cli.secrets, old)

	// The pipeline, created from a JSON file (never a token in argv).
	var created struct {
		Pipeline struct{ Version int }
	}
	createJSON := strings.Replace(seed, codepipeline.TokenRefPrefix+emulator.SeedTokenNote+codepipeline.TokenRefSuffix, old.Reveal(), 1)
	cli.must(&created, "create-pipeline", "--cli-input-json", cli.file("create.json", []byte(`{"pipeline":`+createJSON+`}`)))
	if created.Pipeline.Version != 1 {
		t.Errorf("created version = %d, want 1", created.Pipeline.Version)
	}

	// aws codepipeline get-pipeline --name MyFirstPipeline > pipeline.json
	got, _, ok := cli.run("get-pipeline", "--name", emulator.SeedPipeline)
	if !ok {
		t.Fatal("get-pipeline failed")
	}
	if !strings.Contains(got, `"OAuthToken": "****"`) || !strings.Contains(got, `"metadata"`) || !strings.Contains(got, `"pipelineArn": "arn:aws:codepipeline:us-east-1:123456789012:MyFirstPipeline"`) {
		t.Fatalf("get-pipeline output lacks the masked token or the metadata:\n%s", got)
	}

	// A person makes a new token in GitHub and pastes it over the asterisks.
	fresh, _, err := sb.GitHub.CreateToken(emulator.SeedUser, github.TokenSpec{Kind: github.KindClassic, Note: "codepipeline-2", Scopes: []string{"repo", "admin:repo_hook"}})
	if err != nil {
		t.Fatal(err)
	}
	cli.secrets = append(cli.secrets, fresh)
	edited := strings.Replace(got, `"OAuthToken": "****"`, `"OAuthToken": "`+fresh.Reveal()+`"`, 1)
	pipelineJSON := cli.file("pipeline.json", []byte(edited))

	// With the metadata still there the CLI refuses before any request.
	_, stderr, ok := cli.run("update-pipeline", "--cli-input-json", pipelineJSON)
	if ok || !strings.Contains(stderr, `Unknown parameter in input: "metadata", must be one of: pipeline`) {
		t.Fatalf("update-pipeline with metadata: ok=%v stderr=%s", ok, stderr)
	}
	if _, v, _ := sb.CodePipeline.Pipeline(emulator.SeedPipeline); v != 1 {
		t.Fatalf("the refused update reached the emulator: version %d", v)
	}

	// Remove the metadata section and update.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(edited), &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "metadata")
	b, _ := json.MarshalIndent(doc, "", "    ")
	pipelineJSON = cli.file("pipeline.json", b)
	var updated struct {
		Pipeline struct {
			Version int
			Stages  []struct {
				Actions []struct{ Configuration map[string]string }
			}
		}
	}
	cli.must(&updated, "update-pipeline", "--cli-input-json", pipelineJSON)
	if updated.Pipeline.Version != 2 || updated.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"] != "****" {
		t.Errorf("update-pipeline = version %d, token %q; want 2 and ****", updated.Pipeline.Version, updated.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"])
	}
	if stored, _ := sb.CodePipeline.StoredToken(emulator.SeedPipeline, "Source"); !stored.Equal(fresh) {
		t.Errorf("the pipeline holds %v, want the pasted token %v", stored, fresh)
	}
	if err := os.Remove(filepath.Join(cli.dir, "pipeline.json")); err != nil { // the procedure's last step
		t.Fatal(err)
	}

	// list-pipelines, paged by the CLI.
	type listOut struct {
		Pipelines []struct{ Name string }
		NextToken string
	}
	names := func(l listOut) []string {
		var n []string
		for _, p := range l.Pipelines {
			n = append(n, p.Name)
		}
		return n
	}
	var all, first, rest listOut
	cli.must(&all, "list-pipelines", "--page-size", "1")
	if diff := cmp.Diff([]string{"Extra-1", "Extra-2", emulator.SeedPipeline}, names(all)); diff != "" {
		t.Errorf("list-pipelines (-want +got):\n%s", diff)
	}
	cli.must(&first, "list-pipelines", "--page-size", "1", "--max-items", "2")
	if len(first.Pipelines) != 2 || first.NextToken == "" {
		t.Fatalf("list-pipelines --max-items 2 = %+v", first)
	}
	cli.must(&rest, "list-pipelines", "--page-size", "1", "--max-items", "2", "--starting-token", first.NextToken)
	if diff := cmp.Diff([]string{emulator.SeedPipeline}, names(rest)); diff != "" || rest.NextToken != "" {
		t.Errorf("second page (-want +got):\n%s next %q", diff, rest.NextToken)
	}

	// Run it: the source stage downloads with the new token.
	var started struct{ PipelineExecutionId string }
	cli.must(&started, "start-pipeline-execution", "--name", emulator.SeedPipeline)
	var exec struct {
		PipelineExecution struct {
			Status          string
			PipelineVersion int
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cli.must(&exec, "get-pipeline-execution", "--pipeline-name", emulator.SeedPipeline, "--pipeline-execution-id", started.PipelineExecutionId)
		if exec.PipelineExecution.Status != "InProgress" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if exec.PipelineExecution.Status != "Succeeded" || exec.PipelineExecution.PipelineVersion != 2 {
		t.Errorf("execution = %+v, want Succeeded on version 2", exec.PipelineExecution)
	}
	var state struct {
		PipelineVersion int
		StageStates     []struct {
			StageName    string
			ActionStates []struct {
				LatestExecution struct{ Status string }
			}
		}
	}
	cli.must(&state, "get-pipeline-state", "--name", emulator.SeedPipeline)
	if len(state.StageStates) != 2 || state.StageStates[0].ActionStates[0].LatestExecution.Status != "Succeeded" {
		t.Errorf("get-pipeline-state = %+v", state)
	}
	last := sb.CodePipeline.Fetches()
	if len(last) == 0 || !last[len(last)-1].OK || last[len(last)-1].TokenFingerprint != fresh.Fingerprint() {
		t.Errorf("last fetch = %+v, want OK with the pasted token", last)
	}
}
