package codepipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	sdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/motoserver"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

const (
	region  = "us-east-1"
	account = "123456789012"
	roleArn = "arn:aws:iam::123456789012:role/rotor-test-codepipeline"
)

var static = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")

// isolate keeps tests away from the machine's AWS config and from IMDS.
// Profile and endpoint variables are unset, not blanked: a child moto_server
// (botocore) reads AWS_PROFILE="" as a profile named "".
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache")) // the pipeline inventory
	t.Setenv("HOME", dir)
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		if v, ok := os.LookupEnv(k); ok {
			os.Unsetenv(k)
			t.Cleanup(func() { os.Setenv(k, v) })
		}
	}
}

// backend is one CodePipeline implementation the contract runs against.
type backend struct {
	name     string
	endpoint string
	admin    *sdk.Client // for setting up and inspecting, outside the target
	// masks: GetPipeline shows "****" for tokens (the emulator, AWS).
	masks bool
	// stored is the token an action really holds.
	stored func(t *testing.T, pipeline, action string) token.Token
	// tagStack marks a pipeline as managed by a CloudFormation stack.
	tagStack func(t *testing.T, pipeline, stack string)
	// emu is the emulator, nil on moto.
	emu *cpemu.Server
}

func adminClient(endpoint string) *sdk.Client {
	return sdk.New(sdk.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       region,
		Credentials:  static,
		HTTPClient:   awsx.HTTPClient(),
	})
}

// fakeGitHub answers the tarball downloads of the emulator's executions: a
// token may read when it is allowed.
type fakeGitHub struct {
	mu      sync.Mutex
	allowed map[string]bool
}

func (g *fakeGitHub) allow(tok token.Token, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowed[tok.Reveal()] = ok
}

func (g *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, _ := strings.CutPrefix(r.Header.Get("Authorization"), "token ")
	g.mu.Lock()
	ok := g.allowed[v]
	g.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"Bad credentials"}`)
		return
	}
	_, _ = io.WriteString(w, "tarball")
}

// emulatorBackend serves our CodePipeline emulator in process.
func emulatorBackend(t *testing.T, wrap func(http.Handler) http.Handler) (backend, *fakeGitHub) {
	t.Helper()
	gh := &fakeGitHub{allowed: map[string]bool{}}
	ghSrv := httptest.NewServer(gh)
	t.Cleanup(ghSrv.Close)
	srv, err := cpemu.New(cpemu.World{Account: account, Region: region}, cpemu.Options{
		GitHubURL:    ghSrv.URL,
		PollInterval: -1,
		ActionDelay:  time.Millisecond,
		Faults:       fault.New(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := conformance.Wrap(t, "codepipeline", srv) // held to AWS's model; wrap rewrites answers after the check
	if wrap != nil {
		h = wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	return backend{
		name:     "emulator",
		endpoint: hs.URL,
		admin:    adminClient(hs.URL),
		masks:    true,
		emu:      srv,
		stored: func(t *testing.T, p, a string) token.Token {
			t.Helper()
			tok, ok := srv.StoredToken(p, a)
			if !ok {
				t.Fatalf("emulator: no action %s in %s", a, p)
			}
			return token.New(tok.Reveal())
		},
		tagStack: func(t *testing.T, p, stack string) {
			t.Helper()
			tagInState(t, srv, p, stack)
		},
	}, gh
}

// tagInState gives a pipeline the CloudFormation system tag, which no API
// caller may set.
func tagInState(t *testing.T, srv *cpemu.Server, pipeline, stack string) {
	t.Helper()
	if err := srv.ManageByStack(pipeline, stack); err != nil {
		t.Fatal(err)
	}
}

// motoBackend starts moto_server on a free loopback port, or skips.
func motoBackend(t *testing.T) backend {
	t.Helper()
	endpoint := epochProxy(t, motoserver.Start(t))
	motoserver.CreateRole(t, endpoint, "rotor-test-codepipeline", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
		`"Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	admin := adminClient(endpoint)
	return backend{
		name:     "moto",
		endpoint: endpoint,
		admin:    admin,
		masks:    false,
		stored:   motoStored(admin),
		tagStack: func(t *testing.T, p, stack string) {
			t.Helper()
			arn := fmt.Sprintf("arn:aws:codepipeline:%s:%s:%s", region, account, p)
			_, err := admin.TagResource(context.Background(), &sdk.TagResourceInput{
				ResourceArn: &arn, Tags: []types.Tag{{Key: aws.String(StackTag), Value: &stack}},
			})
			if err != nil {
				t.Skipf("moto refuses the CloudFormation system tag: %v", awsx.Sanitize(err))
			}
		},
	}
}

// motoStored reads the token an action holds from moto, which shows it
// unmasked in GetPipeline, through admin (one account and region).
func motoStored(admin *sdk.Client) func(t *testing.T, pipeline, action string) token.Token {
	return func(t *testing.T, p, a string) token.Token {
		t.Helper()
		out, err := admin.GetPipeline(context.Background(), &sdk.GetPipelineInput{Name: &p})
		if err != nil {
			t.Fatalf("moto GetPipeline %s: %v", p, awsx.Sanitize(err))
		}
		for _, st := range out.Pipeline.Stages {
			for _, ac := range st.Actions {
				if deref(ac.Name) == a {
					return token.New(ac.Configuration[propToken])
				}
			}
		}
		t.Fatalf("moto: no action %s in %s", a, p)
		return token.Token{}
	}
}

// epochProxy fronts moto, which sends the timestamps of GetPipeline's
// metadata and ListPipelines' summaries as ISO strings where AWS (and so the
// Go SDK) uses epoch seconds: it rewrites them. moto 5 does not implement
// ListPipelineExecutions (nor run pipelines): the proxy answers it with no
// executions, which is what an idle pipeline shows, so that the target's
// idle check before each update works against moto unchanged.
func epochProxy(t *testing.T, target string) string {
	t.Helper()
	u, _ := url.Parse(target)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(r *http.Response) error {
		op := r.Request.Header.Get("X-Amz-Target")
		if r.StatusCode != 200 || !(strings.HasSuffix(op, ".GetPipeline") || strings.HasSuffix(op, ".ListPipelines")) {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		var doc map[string]any
		if json.Unmarshal(b, &doc) == nil {
			if md, ok := doc["metadata"].(map[string]any); ok {
				epochs(md)
			}
			if ps, ok := doc["pipelines"].([]any); ok {
				for _, p := range ps {
					if pm, ok := p.(map[string]any); ok {
						epochs(pm)
					}
				}
			}
			b, _ = json.Marshal(doc)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ListPipelineExecutions") {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_, _ = io.WriteString(w, `{"pipelineExecutionSummaries":[]}`)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func epochs(m map[string]any) {
	for _, k := range []string{"created", "updated", "pollingDisabledAt"} {
		if s, ok := m[k].(string); ok {
			if ts, err := time.Parse(time.RFC3339, s); err == nil {
				m[k] = float64(ts.UnixMilli()) / 1000
			}
		}
	}
}

// ghSpec is one GitHub v1 source action of a test pipeline.
type ghSpec struct {
	action, owner, repo string
	tok                 token.Token
}

// testDecl is the seed procedure's pipeline, richer: a V2 pipeline with
// variables, one or more GitHub v1 source actions and a build stage.
func testDecl(name string, gh ...ghSpec) *types.PipelineDeclaration {
	var src []types.ActionDeclaration
	for i, g := range gh {
		src = append(src, types.ActionDeclaration{
			Name:            aws.String(g.action),
			ActionTypeId:    &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerThirdParty, Provider: aws.String("GitHub"), Version: aws.String("1")},
			RunOrder:        aws.Int32(1),
			Configuration:   map[string]string{propOwner: g.owner, propRepo: g.repo, propBranch: "main", propToken: g.tok.Reveal(), propPoll: "false"},
			OutputArtifacts: []types.OutputArtifact{{Name: aws.String(fmt.Sprintf("Src%d", i))}},
		})
	}
	return &types.PipelineDeclaration{
		Name:          aws.String(name),
		RoleArn:       aws.String(roleArn),
		ArtifactStore: &types.ArtifactStore{Type: types.ArtifactStoreTypeS3, Location: aws.String("codepipeline-us-east-1-artifacts")},
		Stages: []types.StageDeclaration{
			{Name: aws.String("Source"), Actions: src},
			{Name: aws.String("Build"), Actions: []types.ActionDeclaration{{
				Name:           aws.String("Build"),
				ActionTypeId:   &types.ActionTypeId{Category: types.ActionCategoryBuild, Owner: types.ActionOwnerAws, Provider: aws.String("CodeBuild"), Version: aws.String("1")},
				RunOrder:       aws.Int32(1),
				Configuration:  map[string]string{"ProjectName": "build-" + name},
				InputArtifacts: []types.InputArtifact{{Name: aws.String("Src0")}},
			}}},
		},
	}
}

// plainDecl has no GitHub action.
func plainDecl(name string) *types.PipelineDeclaration {
	d := testDecl(name)
	d.Stages = []types.StageDeclaration{{Name: aws.String("Source"), Actions: []types.ActionDeclaration{{
		Name:            aws.String("S3Source"),
		ActionTypeId:    &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
		Configuration:   map[string]string{"S3Bucket": "b", "S3ObjectKey": "k.zip"},
		OutputArtifacts: []types.OutputArtifact{{Name: aws.String("Src0")}},
	}}}, d.Stages[1]}
	return d
}

func create(t *testing.T, be backend, d *types.PipelineDeclaration) {
	t.Helper()
	if _, err := be.admin.CreatePipeline(context.Background(), &sdk.CreatePipelineInput{Pipeline: d}); err != nil {
		t.Fatalf("%s: CreatePipeline %s: %v", be.name, deref(d.Name), awsx.Sanitize(err))
	}
}

// snapshot is a pipeline as GetPipeline shows it, raw: its comparable
// declaration (tokens masked, version out) and its version.
type snapshot struct {
	decl    any
	version int32
}

func getRaw(t *testing.T, be backend, name string) snapshot {
	t.Helper()
	var x exchange
	defer x.wipe()
	out, err := be.admin.GetPipeline(context.Background(), &sdk.GetPipelineInput{Name: &name}, x.option)
	if err != nil {
		t.Fatalf("%s: GetPipeline %s: %v", be.name, name, awsx.Sanitize(err))
	}
	p, err := decodeMember(x.raw(), "pipeline")
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{decl: comparable(p), version: aws.ToInt32(out.Pipeline.Version)}
}

func newTarget(t *testing.T, be backend, cfg Config) *Target {
	t.Helper()
	cfg.AWS = awsx.Config{Region: region, EndpointURL: be.endpoint, Credentials: static}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.IdlePoll == 0 {
		cfg.IdlePoll = 10 * time.Millisecond
	}
	if cfg.Limits.Initial == 0 {
		cfg.Limits = ratelimit.Options{Initial: 500}
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = "-" // each target reads for itself, unless a test shares an inventory
	}
	if cfg.CloudFormation == nil {
		cfg.CloudFormation = noStacks{}
	}
	tg, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// collect runs Apply or Verify and returns each binding's error by ID.
func collect(run func(report func(rotation.Result))) map[string]error {
	var mu sync.Mutex
	out := map[string]error{}
	run(func(r rotation.Result) {
		mu.Lock()
		defer mu.Unlock()
		out[r.BindingID] = r.Err
	})
	return out
}

func apply(tg *Target, tok token.Token, bs []rotation.Binding) map[string]error {
	return collect(func(report func(rotation.Result)) { tg.Apply(context.Background(), tok, bs, report) })
}

func verify(tg *Target, tok token.Token, bs []rotation.Binding) map[string]error {
	return collect(func(report func(rotation.Result)) { tg.Verify(context.Background(), tok, bs, report) })
}

// failures lists the bindings that failed.
func failures(res map[string]error) map[string]string {
	out := map[string]string{}
	for id, err := range res {
		if err != nil {
			out[id] = err.Error()
		}
	}
	return out
}

// id is the binding ID of an action of a test pipeline.
func id(pipeline, stage, action string) string {
	return BindingID(account, region, pipeline, stage, action)
}

// noStacks is a CloudFormation that knows no stack: Vet cannot prove any
// stack-managed pipeline safe with it.
type noStacks struct{}

func (noStacks) DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	return nil, errors.New("ValidationError: Stack does not exist (no CloudFormation in this test)")
}

func (noStacks) GetTemplate(context.Context, *cloudformation.GetTemplateInput, ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	return nil, errors.New("no CloudFormation in this test")
}

func (noStacks) ListStackResources(context.Context, *cloudformation.ListStackResourcesInput, ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error) {
	return nil, errors.New("no CloudFormation in this test")
}
