package codepipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// fakeGitHub stands in for the GitHub emulator's tarball endpoint: a token
// may read a repository when it is in the allowed set.
type fakeGitHub struct {
	mu      sync.Mutex
	allowed map[string]bool // token value → may read
	hits    int
}

func newFakeGitHub(t *testing.T, good ...token.Token) (*fakeGitHub, string) {
	t.Helper()
	g := &fakeGitHub{allowed: map[string]bool{}}
	for _, tok := range good {
		g.allowed[tok.Reveal()] = true
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

func (g *fakeGitHub) allow(tok token.Token, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowed[tok.Reveal()] = ok
}

func (g *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.hits++
	v, _ := strings.CutPrefix(r.Header.Get("Authorization"), "token ")
	ok := g.allowed[v]
	g.mu.Unlock()
	if r.URL.Path != "/repos/MyGitHubUserName/test-repo/tarball/master" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Not Found"}`))
		return
	}
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Bad credentials"}`))
		return
	}
	_, _ = w.Write([]byte("tarball bytes"))
}

type env struct {
	srv    *codepipeline.Server
	url    string
	client *cp.Client
}

// start serves an emulator built from w and opts and returns an SDK client
// pointed at it. Retries are fast so that throttling tests stay quick.
func start(t *testing.T, w codepipeline.World, opts codepipeline.Options) env {
	t.Helper()
	if opts.ActionDelay == 0 {
		opts.ActionDelay = time.Millisecond
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = -1 // tests that poll say so
	}
	srv, err := codepipeline.New(w, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(conformance.Wrap(t, "codepipeline", srv, conformance.AllowInvalidRequests()))
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	return env{srv: srv, url: hs.URL, client: newClient(hs.URL, 3)}
}

func newClient(url string, attempts int) *cp.Client {
	return cp.New(cp.Options{
		BaseEndpoint: aws.String(url),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = constantBackoff(10 * time.Millisecond)
		}),
	})
}

type constantBackoff time.Duration

func (c constantBackoff) BackoffDelay(int, error) (time.Duration, error) {
	return time.Duration(c), nil
}

const roleArn = "arn:aws:iam::123456789012:role/AWS-CodePipeline-Service"

// seedDecl is the seed procedure's pipeline: a GitHub (version 1) source and
// a build stage that consumes its artifact.
func seedDecl(name string, tok token.Token, extra ...func(*types.PipelineDeclaration)) *types.PipelineDeclaration {
	d := &types.PipelineDeclaration{
		Name:          aws.String(name),
		RoleArn:       aws.String(roleArn),
		ArtifactStore: &types.ArtifactStore{Type: types.ArtifactStoreTypeS3, Location: aws.String("codepipeline-us-east-1-1234567890")},
		Stages: []types.StageDeclaration{
			{Name: aws.String("Source"), Actions: []types.ActionDeclaration{{
				Name:            aws.String("Source"),
				ActionTypeId:    &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerThirdParty, Provider: aws.String("GitHub"), Version: aws.String("1")},
				Configuration:   map[string]string{"Owner": "MyGitHubUserName", "Repo": "test-repo", "Branch": "master", "OAuthToken": tok.Reveal()},
				OutputArtifacts: []types.OutputArtifact{{Name: aws.String("SourceArtifact")}},
			}}},
			{Name: aws.String("Build"), Actions: []types.ActionDeclaration{{
				Name:           aws.String("Build"),
				ActionTypeId:   &types.ActionTypeId{Category: types.ActionCategoryBuild, Owner: types.ActionOwnerAws, Provider: aws.String("CodeBuild"), Version: aws.String("1")},
				Configuration:  map[string]string{"ProjectName": "test-project"},
				InputArtifacts: []types.InputArtifact{{Name: aws.String("SourceArtifact")}},
			}}},
		},
	}
	for _, f := range extra {
		f(d)
	}
	return d
}

// seedJSON is seedDecl as a world file's JSON.
func seedJSON(name, tokenValue string, poll string) json.RawMessage {
	pollCfg := ""
	if poll != "" {
		pollCfg = fmt.Sprintf(`,"PollForSourceChanges":%q`, poll)
	}
	return json.RawMessage(fmt.Sprintf(`{
  "name": %q,
  "roleArn": %q,
  "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-1234567890"},
  "stages": [
    {"name": "Source", "actions": [{"name": "Source",
      "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
      "configuration": {"Owner": "MyGitHubUserName", "Repo": "test-repo", "Branch": "master", "OAuthToken": %q%s},
      "outputArtifacts": [{"name": "SourceArtifact"}]}]},
    {"name": "Build", "actions": [{"name": "Build",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "test-project"},
      "inputArtifacts": [{"name": "SourceArtifact"}]}]}
  ]
}`, name, roleArn, tokenValue, pollCfg))
}

// waitFor polls cond until it holds; it fails the test after a generous
// deadline instead of asserting on timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// executionStatus waits until an execution is no longer InProgress.
func executionStatus(t *testing.T, c *cp.Client, pipeline, id string) types.PipelineExecutionStatus {
	t.Helper()
	var status types.PipelineExecutionStatus
	waitFor(t, "execution "+id, func() bool {
		out, err := c.GetPipelineExecution(context.Background(), &cp.GetPipelineExecutionInput{PipelineName: &pipeline, PipelineExecutionId: &id})
		if err != nil {
			t.Fatalf("GetPipelineExecution: %v", err)
		}
		status = out.PipelineExecution.Status
		return status != types.PipelineExecutionStatusInProgress
	})
	return status
}

// rawCall posts a body to the emulator with a target, as any AWS client does.
func rawCall(t *testing.T, url, target, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/codepipeline/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

type faultRule = fault.Rule
