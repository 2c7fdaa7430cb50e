package cli

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/token"
)

// setTarget rewrites the codepipeline target's line of the test config.
func (e *e2e) setTarget(line string) {
	e.t.Helper()
	b, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "{type: codepipeline, pipelines: [MyFirstPipeline]}", line, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// deploy starts an execution of MyFirstPipeline that stays in its Build
// stage until stopped, and waits until it is there.
func (e *e2e) deploy() string {
	e.t.Helper()
	e.sb.CodePipeline.SetRunTime("MyFirstPipeline", "Build", time.Hour)
	client, _ := e.pipelines()
	out, err := client.StartPipelineExecution(context.Background(), &cp.StartPipelineExecutionInput{Name: aws.String("MyFirstPipeline")})
	if err != nil {
		e.t.Fatal(err)
	}
	id := aws.ToString(out.PipelineExecutionId)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := client.GetPipelineState(context.Background(), &cp.GetPipelineStateInput{Name: aws.String("MyFirstPipeline")})
		if err != nil {
			e.t.Fatal(err)
		}
		if b := st.StageStates[1].LatestExecution; b != nil && aws.ToString(b.PipelineExecutionId) == id && b.Status == "InProgress" {
			return id
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the deployment never reached Build")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rotateWhileDeploying sets the target's in_flight policy, adopts today's
// token, starts a deployment and rotates to a new token while it runs.
func (e *e2e) rotateWhileDeploying(policy string) (exec string, fresh token.Token, code int, out string) {
	e.t.Helper()
	e.setTarget("{type: codepipeline, pipelines: [MyFirstPipeline], in_flight: " + policy + "}")
	if code, out := e.rotor(e.tokens[0].Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		e.t.Fatalf("adopt: %d %s", code, out)
	}
	exec = e.deploy()
	fresh = e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	code, out = e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin")
	return exec, fresh, code, out
}

// stoppedByUpdate lists the executions an UpdatePipeline stopped.
func (e *e2e) stoppedByUpdate() []string {
	var out []string
	for _, x := range e.sb.CodePipeline.Executions() {
		if x.StoppedBy == cpemu.StoppedByUpdate {
			out = append(out, x.ID)
		}
	}
	return out
}

// TestCLI_RotateWithDeploymentInFlight: a pipeline busy with a deployment
// keeps the old token (in_flight: skip), the run exits 4 naming it, status
// shows it, the old token is not retired; once the pipeline is idle,
// rotate --resume moves it and the old token is revoked. No execution is
// stopped by rotor (I8).
func TestCLI_RotateWithDeploymentInFlight(t *testing.T) {
	e := newE2E(t, "0")
	old := e.tokens[0]
	exec, fresh, code, out := e.rotateWhileDeploying("skip")
	if code != ExitStragglers {
		t.Fatalf("rotate with a deployment in flight: exit %d, want %d\n%s", code, ExitStragglers, out)
	}
	for _, want := range []string{"waiting", "codepipeline:123456789012:us-east-1:MyFirstPipeline/Source/Source", exec, "--resume"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate output lacks %q:\n%s", want, out)
		}
	}
	if e.pipelineToken() != old.Fingerprint() || e.fileToken() != fresh.Fingerprint() {
		t.Fatalf("pipeline %s (want the old token), file %s (want the new)", e.pipelineToken(), e.fileToken())
	}
	if st := e.state(old.Fingerprint()); st != ghemu.StateActive {
		t.Fatalf("old token %q while a binding holds it, want active", st)
	}
	if s := e.stoppedByUpdate(); len(s) != 0 {
		t.Fatalf("executions stopped by rotor: %v", s)
	}
	if code, out := e.rotor("", "status"); code != 0 || !strings.Contains(out, "1 waiting for their pipeline") || !strings.Contains(out, "MyFirstPipeline/Source/Source") {
		t.Fatalf("status with a straggler: %d\n%s", code, out)
	}
	if code, out := e.rotor("", "retire", "pipeline-token"); code != 0 || e.state(old.Fingerprint()) != ghemu.StateActive {
		t.Fatalf("retire with a straggler: %d, old token %q\n%s", code, e.state(old.Fingerprint()), out)
	}

	// Still busy: --resume leaves it waiting (skip does not wait), exit 4.
	if code, out := e.rotor("", "rotate", "pipeline-token", "--resume"); code != ExitStragglers {
		t.Fatalf("resume while busy: exit %d\n%s", code, out)
	}

	// The deployment ends (someone stops it); --resume moves the binding.
	client, _ := e.pipelines()
	if _, err := client.StopPipelineExecution(context.Background(), &cp.StopPipelineExecutionInput{PipelineName: aws.String("MyFirstPipeline"), PipelineExecutionId: &exec, Abandon: true}); err != nil {
		t.Fatal(err)
	}
	code, out = e.rotor("", "rotate", "pipeline-token", "--resume", "-o", "json")
	if code != 0 {
		t.Fatalf("resume when idle: exit %d\n%s", code, out)
	}
	var res runResult
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &res); err != nil || len(res.Stragglers) != 0 || res.NewSeq == 0 {
		t.Fatalf("resume -o json: %+v, %v\n%s", res, err, out)
	}
	if e.pipelineToken() != fresh.Fingerprint() {
		t.Fatal("the pipeline did not move to the new token")
	}
	if st := e.state(old.Fingerprint()); st != ghemu.StateRevoked {
		t.Fatalf("old token %q after the last straggler moved (grace 0), want revoked", st)
	}
	if s := e.stoppedByUpdate(); len(s) != 0 {
		t.Fatalf("executions stopped by rotor: %v", s)
	}
	if code, out := e.rotor("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	e.canary()
}

// TestCLI_RotateInterruptReported: in_flight: interrupt updates the busy
// pipeline and says which execution it stopped, in the output and the
// audit record.
func TestCLI_RotateInterruptReported(t *testing.T) {
	e := newE2E(t, "10m")
	exec, _, code, out := e.rotateWhileDeploying("interrupt")
	if code != 0 || !strings.Contains(out, "interrupted") || !strings.Contains(out, exec) {
		t.Fatalf("rotate with interrupt: exit %d, want 0 and the interrupted execution %s named\n%s", code, exec, out)
	}
	if s := e.stoppedByUpdate(); len(s) != 1 || s[0] != exec {
		t.Fatalf("stopped per the emulator: %v, want %s", s, exec)
	}
	env, err := (&App{ConfigPath: e.config}).openEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	recs, _, err := env.Store.Audit(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		if r.Event == "applied" && strings.Contains(r.Detail, exec) && strings.Contains(r.Detail, "MyFirstPipeline") {
			found = true
		}
	}
	if !found {
		t.Errorf("no applied audit record names the interrupted execution %s", exec)
	}
}

// TestCLI_RotateCarriesOtherActions: a pipeline with a second GitHub action
// that rotor does not manage is rotated, the other action goes back as
// read and keeps its token, and nothing is rolled back.
func TestCLI_RotateCarriesOtherActions(t *testing.T) {
	e := newE2E(t, "10m")
	old := e.tokens[0]
	other := e.newToken("MyGitHubUserName", "repo")
	client, decl := e.pipelines()
	lib := decl.Stages[0].Actions[0]
	lib.Name = aws.String("Lib")
	lib.Configuration = map[string]string{"Owner": "MyGitHubUserName", "Repo": "lib-repo", "Branch": "master", "OAuthToken": other.Reveal(), "PollForSourceChanges": "false"}
	lib.OutputArtifacts = []cptypes.OutputArtifact{{Name: aws.String("LibArtifact")}}
	decl.Stages[0].Actions[0].Configuration["OAuthToken"] = old.Reveal()
	decl.Stages[0].Actions = append(decl.Stages[0].Actions, lib)
	if _, err := client.UpdatePipeline(context.Background(), &cp.UpdatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	e.setTarget("{type: codepipeline, pipelines: [MyFirstPipeline], match: {repo: test-repo}}")
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	if code, out := e.rotor("", "plan"); code != 0 || !strings.Contains(out, "Source/Lib") || !strings.Contains(out, "exactly as read") {
		t.Fatalf("plan: %d, want the carried action named\n%s", code, out)
	}
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin"); code != 0 {
		t.Fatalf("rotate: %d\n%s", code, out)
	}
	if e.pipelineToken() != fresh.Fingerprint() {
		t.Errorf("Source holds %s, want the new token", e.pipelineToken())
	}
	if got, _ := e.sb.CodePipeline.StoredToken("MyFirstPipeline", "Lib"); got.Reveal() != other.Reveal() {
		t.Errorf("Lib holds %s, want its own token kept", got.Fingerprint())
	}

	// other_actions: refuse refuses it before asking for the token.
	e.setTarget("{type: codepipeline, pipelines: [MyFirstPipeline], match: {repo: test-repo}, other_actions: refuse}")
	b, _ := os.ReadFile(e.config)
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(b), "match: {repo: test-repo}}", "match: {repo: test-repo}, other_actions: refuse}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := e.rotor("", "rotate", "pipeline-token", "--token-stdin")
	if code != ExitFailure || !strings.Contains(out, "other_actions: refuse") || !strings.Contains(out, "Source/Lib") {
		t.Fatalf("rotate with other_actions: refuse: %d\n%s", code, out)
	}
	if strings.Contains(out, "new token") || regexp.MustCompile(`(?m)^\s+\S+ mint `).MatchString(out) {
		t.Errorf("the token was asked for or minted before the refusal:\n%s", out)
	}
	e.canary()
}
