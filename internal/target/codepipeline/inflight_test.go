package codepipeline

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	sdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/cfnref"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target/secretsmanager"
	"github.com/rotor-ci/rotor/internal/token"
)

// deploying creates pipelines on the emulator whose Build stage takes
// runTime, waits for the execution CreatePipeline starts to be in Build,
// and returns the binding of each.
func deploying(t *testing.T, be backend, gh *fakeGitHub, old token.Token, runTime time.Duration, names ...string) {
	t.Helper()
	gh.allow(old, true)
	for _, n := range names {
		be.emu.SetRunTime(n, "Build", runTime)
		create(t, be, testDecl(n, ghSpec{"GitHub", "acme", "deploy", old}))
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range names {
		for !inBuild(t, be, n) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached Build", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func inBuild(t *testing.T, be backend, name string) bool {
	st, err := be.admin.GetPipelineState(context.Background(), &sdk.GetPipelineStateInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	b := st.StageStates[1].LatestExecution
	return b != nil && b.Status == types.StageExecutionStatusInProgress
}

// results runs ApplyWaiting and returns every result by binding.
func applyResults(tg *Target, tok token.Token, bs []rotation.Binding, w rotation.WaitBounds) map[string]rotation.Result {
	var mu sync.Mutex
	out := map[string]rotation.Result{}
	tg.ApplyWaiting(context.Background(), tok, bs, w, func(r rotation.Result) {
		mu.Lock()
		defer mu.Unlock()
		out[r.BindingID] = r
	})
	return out
}

// stoppedBy counts the executions an UpdatePipeline stopped.
func stoppedBy(be backend) (n int) {
	for _, e := range be.emu.Executions() {
		if e.StoppedBy == cpemu.StoppedByUpdate {
			n++
		}
	}
	return n
}

func TestApplyWaiting_WaitsForTheDeployment(t *testing.T) {
	isolate(t)
	be, gh := emulatorBackend(t, nil)
	old, fresh := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	deploying(t, be, gh, old, 2*time.Second, "busy-1")
	create(t, be, testDecl("idle-1", ghSpec{"GitHub", "acme", "deploy", old}))
	tg := newTarget(t, be, Config{Match: &Match{Repo: "deploy"}})
	bs, err := tg.Discover(context.Background())
	if err != nil || len(bs) != 2 {
		t.Fatalf("Discover = %v, %v", bs, err)
	}
	for !func() bool { return !be.emu.Busy("idle-1") }() {
		time.Sleep(5 * time.Millisecond)
	}
	if !be.emu.Busy("busy-1") {
		t.Fatal("busy-1 finished its deployment before Apply started")
	}
	res := applyResults(tg, fresh, bs, rotation.WaitBounds{})
	for id, r := range res {
		if r.Err != nil || r.Waiting != "" || len(r.Interrupted) > 0 {
			t.Errorf("%s: %+v, want applied", id, r)
		}
	}
	// The update came after the deployment ended by itself.
	var ended, updated time.Time
	for _, e := range be.emu.Executions() {
		if e.Pipeline == "busy-1" && e.Status == "Succeeded" {
			ended = e.Updated
		}
	}
	for _, u := range be.emu.Updates() {
		if u.Pipeline == "busy-1" {
			updated = u.Time
		}
	}
	if ended.IsZero() || updated.Before(ended) {
		t.Errorf("busy-1's deployment ended %v, updated %v: want the update after the end", ended, updated)
	}
	if n := stoppedBy(be); n != 0 {
		t.Errorf("%d execution(s) stopped by the update, want 0", n)
	}
	for _, n := range []string{"busy-1", "idle-1"} {
		if got := be.stored(t, n, "GitHub"); !got.Equal(fresh) {
			t.Errorf("%s holds %v, want the new token", n, got)
		}
	}
	for _, u := range be.emu.Updates() {
		if w := u.Window(); w < 0 || w > 2*time.Second {
			t.Errorf("update of %s: check→update window %v", u.Pipeline, w)
		}
	}
}

func TestApplyWaiting_Policies(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cfg         Config
		bounds      func() rotation.WaitBounds
		waiting     bool // the busy binding is reported Waiting
		interrupted bool // …or applied, stopping the deployment
	}{
		{"skip", Config{InFlight: InFlightSkip}, nil, true, false},
		{"interrupt", Config{InFlight: InFlightInterrupt}, nil, false, true},
		{"max_wait", Config{MaxWait: 150 * time.Millisecond}, nil, true, false},
		{"no wait (rotor serve's tick)", Config{}, func() rotation.WaitBounds { return rotation.WaitBounds{NoWait: true} }, true, false},
		{"old token expires: on_expiry interrupt", Config{}, func() rotation.WaitBounds {
			return rotation.WaitBounds{HeldExpires: time.Now().Add(ExpiryMargin + 200*time.Millisecond)}
		}, false, true},
		{"old token expires: on_expiry wait", Config{OnExpiry: OnExpiryWait, MaxWait: 400 * time.Millisecond}, func() rotation.WaitBounds {
			return rotation.WaitBounds{HeldExpires: time.Now().Add(ExpiryMargin + 100*time.Millisecond)}
		}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			be, gh := emulatorBackend(t, nil)
			old, fresh := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
			deploying(t, be, gh, old, time.Hour, "busy")
			create(t, be, testDecl("idle", ghSpec{"GitHub", "acme", "deploy", old}))
			for be.emu.Busy("idle") {
				time.Sleep(5 * time.Millisecond)
			}
			cfg := tc.cfg
			cfg.Match = &Match{Repo: "deploy"}
			tg := newTarget(t, be, cfg)
			bs, err := tg.Discover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var w rotation.WaitBounds
			if tc.bounds != nil {
				w = tc.bounds()
			}
			res := applyResults(tg, fresh, bs, w)
			busy, idle := res[id("busy", "Source", "GitHub")], res[id("idle", "Source", "GitHub")]
			if idle.Err != nil || idle.Waiting != "" || len(idle.Interrupted) > 0 {
				t.Errorf("idle pipeline: %+v, want applied", idle)
			}
			if got := be.stored(t, "idle", "GitHub"); !got.Equal(fresh) {
				t.Errorf("idle pipeline holds %v", got)
			}
			switch {
			case tc.waiting:
				if busy.Err != nil || !strings.Contains(busy.Waiting, "is running execution") || len(busy.Interrupted) > 0 {
					t.Errorf("busy pipeline: %+v, want Waiting", busy)
				}
				if got := be.stored(t, "busy", "GitHub"); !got.Equal(old) {
					t.Errorf("waiting pipeline holds %v, want the old token", got)
				}
				if n := stoppedBy(be); n != 0 {
					t.Errorf("%d execution(s) stopped", n)
				}
				if !be.emu.Busy("busy") {
					t.Error("the deployment is no longer running")
				}
			case tc.interrupted:
				if busy.Err != nil || busy.Waiting != "" || len(busy.Interrupted) != 1 {
					t.Errorf("busy pipeline: %+v, want applied with one execution interrupted", busy)
				}
				if got := be.stored(t, "busy", "GitHub"); !got.Equal(fresh) {
					t.Errorf("interrupted pipeline holds %v", got)
				}
				var stopped []string
				for _, e := range be.emu.Executions() {
					if e.StoppedBy == cpemu.StoppedByUpdate {
						stopped = append(stopped, e.ID)
					}
				}
				if len(stopped) != 1 || stopped[0] != busy.Interrupted[0] {
					t.Errorf("stopped per the emulator %v, reported %v", stopped, busy.Interrupted)
				}
			}
		})
	}
}

// TestApplyWaiting_ApprovalHeld: an execution held at a manual approval (a
// deployment waiting for a person) is waited for through the real API, and
// the update goes out once someone approves.
func TestApplyWaiting_ApprovalHeld(t *testing.T) {
	isolate(t)
	be, gh := emulatorBackend(t, nil)
	old, fresh := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	gh.allow(old, true)
	d := testDecl("gated", ghSpec{"GitHub", "acme", "gated", old})
	d.Stages = append(d.Stages, types.StageDeclaration{Name: aws.String("Approve"), Actions: []types.ActionDeclaration{{
		Name:         aws.String("Gate"),
		ActionTypeId: &types.ActionTypeId{Category: types.ActionCategoryApproval, Owner: types.ActionOwnerAws, Provider: aws.String("Manual"), Version: aws.String("1")},
	}}})
	create(t, be, d)
	tg := newTarget(t, be, Config{Pipelines: []string{"gated"}})
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var approvalToken string
	deadline := time.Now().Add(10 * time.Second)
	for approvalToken == "" && time.Now().Before(deadline) {
		st, _ := be.admin.GetPipelineState(context.Background(), &sdk.GetPipelineStateInput{Name: aws.String("gated")})
		if a := st.StageStates[2].ActionStates[0].LatestExecution; a != nil {
			approvalToken = aws.ToString(a.Token)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if approvalToken == "" {
		t.Fatal("the execution never waited at the approval")
	}
	done := make(chan map[string]rotation.Result)
	go func() { done <- applyResults(tg, fresh, bs, rotation.WaitBounds{}) }()
	time.Sleep(150 * time.Millisecond)
	if got := be.stored(t, "gated", "GitHub"); !got.Equal(old) {
		t.Fatal("updated while the execution waited for approval")
	}
	if _, err := be.admin.PutApprovalResult(context.Background(), &sdk.PutApprovalResultInput{
		PipelineName: aws.String("gated"), StageName: aws.String("Approve"), ActionName: aws.String("Gate"), Token: &approvalToken,
		Result: &types.ApprovalResult{Status: types.ApprovalStatusApproved, Summary: aws.String("ship it")},
	}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if r := res[bs[0].ID]; r.Err != nil || r.Waiting != "" || len(r.Interrupted) > 0 {
		t.Errorf("after approval: %+v, want applied", r)
	}
	if n := stoppedBy(be); n != 0 {
		t.Errorf("%d execution(s) stopped", n)
	}
	for _, e := range be.emu.Executions() {
		if e.Status != "Succeeded" {
			t.Errorf("execution %s ended %s, want Succeeded", e.ID, e.Status)
		}
	}
}

// TestVerify_CarriedActionByExecution: an action the update carried
// through as read is verified with the pipeline; when it fails, so does
// the pipeline's binding.
func TestVerify_CarriedActionByExecution(t *testing.T) {
	isolate(t)
	be, gh := emulatorBackend(t, nil)
	old, fresh, lib := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	gh.allow(fresh, true)
	gh.allow(lib, true)
	create(t, be, testDecl("two", ghSpec{"App", "acme", "app", old}, ghSpec{"Lib", "acme", "lib", lib}))
	for be.emu.Busy("two") {
		time.Sleep(5 * time.Millisecond)
	}
	tg := newTarget(t, be, Config{Pipelines: []string{"two"}, Match: &Match{Repo: "app"}, Verify: VerifyExecution})
	bs, err := tg.Discover(context.Background())
	if err != nil || len(bs) != 1 {
		t.Fatalf("Discover = %v, %v", bs, err)
	}
	if f := failures(apply(tg, fresh, bs)); len(f) > 0 {
		t.Fatal(f)
	}
	if got := be.stored(t, "two", "Lib"); !got.Equal(lib) {
		t.Fatalf("Lib holds %v, want its token kept", got)
	}
	if f := failures(verify(tg, fresh, bs)); len(f) > 0 {
		t.Fatalf("Verify with both sources working: %v", f)
	}
	gh.allow(lib, false) // the other credential's token dies
	err = verify(tg, fresh, bs)[bs[0].ID]
	if !errors.Is(err, ErrSourceFailed) || !strings.Contains(err.Error(), "Source/Lib") || !strings.Contains(err.Error(), "carried") {
		t.Errorf("Verify with the carried action failing = %v, want ErrSourceFailed naming Source/Lib", err)
	}
}

// stackCFN serves one stack whose template reads the pipeline's token from
// a Secrets Manager secret.
type stackCFN struct{ stack, pipeline, oauth string }

func (f stackCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{{StackName: aws.String(f.stack), StackId: aws.String("arn:aws:cloudformation:us-east-1:123456789012:stack/" + f.stack + "/1")}}}, nil
}

func (f stackCFN) GetTemplate(context.Context, *cloudformation.GetTemplateInput, ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	return &cloudformation.GetTemplateOutput{TemplateBody: aws.String(`Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: ` + f.pipeline + `
      Stages:
        - Name: Source
          Actions:
            - Name: GitHub
              ActionTypeId: {Category: Source, Owner: ThirdParty, Provider: GitHub, Version: "1"}
              Configuration:
                Owner: acme
                Repo: stacked
                Branch: main
                OAuthToken: ` + f.oauth + `
`)}, nil
}

func (f stackCFN) ListStackResources(context.Context, *cloudformation.ListStackResourcesInput, ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error) {
	return &cloudformation.ListStackResourcesOutput{StackResourceSummaries: []cftypes.StackResourceSummary{{LogicalResourceId: aws.String("Pipeline"), PhysicalResourceId: aws.String(f.pipeline), ResourceType: aws.String("AWS::CodePipeline::Pipeline")}}}, nil
}

// TestVet_StackProvenSafe: a stack-managed pipeline whose template reads
// the token from a secret the same credential rotates first is proven
// safe by Vet and written without allow_cloudformation_drift; without that
// secret among the credential's bindings, it is refused.
func TestVet_StackProvenSafe(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	ctx := context.Background()
	old, fresh := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	create(t, be, testDecl("stacked", ghSpec{"GitHub", "acme", "stacked", old}))
	be.tagStack(t, "stacked", "ci-stack")
	cfn := stackCFN{stack: "ci-stack", pipeline: "stacked", oauth: "'{{resolve:secretsmanager:ci/github:SecretString:token}}'"}
	// The secretsmanager target says what its binding holds, as wiring
	// passes it.
	holds := func(b rotation.Binding) (cfnref.Held, bool) { return (*secretsmanager.Target)(nil).Held(b) }
	tg := newTarget(t, be, Config{Pipelines: []string{"stacked"}, CloudFormation: cfn, Holds: holds})
	bs, err := tg.Discover(ctx)
	if err != nil || len(bs) != 1 {
		t.Fatalf("Discover = %v, %v", bs, err)
	}
	secret := rotation.Binding{ID: "secretsmanager:us-east-1:ci/github", Target: "secretsmanager", Attrs: map[string]string{
		"region": region, "arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/github-AbCdEf", "name": "ci/github", "json_key": "token"}}

	if _, err := tg.Vet(ctx, bs, bs); !errors.Is(err, ErrCloudFormation) || !strings.Contains(err.Error(), "ci/github") {
		t.Fatalf("Vet without the secret's binding = %v, want ErrCloudFormation naming the secret", err)
	}
	vetted, err := tg.Vet(ctx, bs, []rotation.Binding{secret, bs[0]})
	if err != nil || len(vetted) != 1 || vetted[0].Attrs[AttrStackProven] != "true" {
		t.Fatalf("Vet with the secret rotated first = %+v, %v; want proven", vetted, err)
	}
	if bs[0].Attrs[AttrStackProven] != "" {
		t.Error("Vet changed the caller's binding")
	}
	if err := apply(tg, fresh, bs)[bs[0].ID]; !errors.Is(err, ErrCloudFormation) {
		t.Errorf("Apply of the unvetted binding = %v, want ErrCloudFormation", err)
	}
	if f := failures(apply(tg, fresh, vetted)); len(f) > 0 {
		t.Fatalf("Apply of the proven binding: %v", f)
	}
	if got := be.stored(t, "stacked", "GitHub"); !got.Equal(fresh) {
		t.Errorf("holds %v, want the new token", got)
	}
}

// TestApply_RetriedUpdateIsInDoubt: UpdatePipeline reaches AWS and its
// answer is lost (a 5xx), a deployment starts, and the SDK's retry finds
// the pipeline busy. The first attempt changed the pipeline, so the binding
// is in doubt (an error rollback must undo), not waiting on the old token:
// reported waiting, rollback would skip it and the new token be revoked
// while the pipeline holds it (I1; seen in the torture run).
func TestApply_RetriedUpdateIsInDoubt(t *testing.T) {
	isolate(t)
	var be backend
	var lost atomic.Bool
	be, gh := emulatorBackend(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdatePipeline") && lost.CompareAndSwap(false, true) {
				h.ServeHTTP(httptest.NewRecorder(), r) // the update happens…
				name := "p"
				if _, err := be.admin.StartPipelineExecution(r.Context(), &sdk.StartPipelineExecutionInput{Name: &name}); err != nil {
					t.Errorf("start a deployment: %v", err)
				}
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusInternalServerError) // …and its answer is lost
				_, _ = io.WriteString(w, `{"__type":"InternalFailure","message":"lost"}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	_, fresh, res := applyToIdle(t, be, gh, time.Hour) // the deployment the lost update's retry meets
	if !lost.Load() {
		t.Fatal("the update was never sent")
	}
	if got := be.stored(t, "p", "GitHub"); !got.Equal(fresh) {
		t.Fatalf("the first attempt did not update the pipeline (it holds %v): the test shows nothing", got)
	}
	if res.Err == nil || res.Unchanged || res.Waiting != "" {
		t.Errorf("result %+v: want an error in doubt (not unchanged, not waiting): the pipeline holds the new token", res)
	}
}

// TestApply_RetriedUpdateThatNeverLandedIsUnchanged: the first attempt
// fails with a 5xx before reaching the pipeline and the retry is refused
// (a 4xx). Read back, the pipeline's version has not moved: nothing to roll
// back, so the result is unchanged, not in doubt. In doubt, rollback would
// try to undo a write that never happened and, refused the same way, keep
// the run open for ever (seen in the torture run under a forced apply
// failure).
func TestApply_RetriedUpdateThatNeverLandedIsUnchanged(t *testing.T) {
	isolate(t)
	var calls atomic.Int32
	be, gh := emulatorBackend(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdatePipeline") {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				if calls.Add(1) == 1 {
					w.WriteHeader(http.StatusInternalServerError) // never reached the pipeline
					_, _ = io.WriteString(w, `{"__type":"InternalFailure","message":"try again"}`)
					return
				}
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"ValidationException","message":"refused"}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	old, _, res := applyToIdle(t, be, gh, 0)
	if calls.Load() < 2 {
		t.Fatalf("UpdatePipeline sent %d times: the SDK did not retry, the test shows nothing", calls.Load())
	}
	if got := be.stored(t, "p", "GitHub"); !got.Equal(old) {
		t.Fatalf("the pipeline holds %v, want the old token", got)
	}
	if res.Err == nil || !res.Unchanged {
		t.Errorf("result %+v: want an error marked unchanged (the version never moved)", res)
	}
}

// TestApply_ThrottledUpdateThatMeetsADeploymentWaits: the first attempt is
// throttled (it never reached the pipeline) and, meanwhile, a deployment
// starts, so the SDK's retry finds the pipeline busy. Read back, the
// version has not moved: the pipeline is busy like any other, here left
// waiting (in_flight: skip) on the old token. Taken as in doubt, it failed
// and the whole run rolled back (the in-flight benchmark in CI, under load).
func TestApply_ThrottledUpdateThatMeetsADeploymentWaits(t *testing.T) {
	isolate(t)
	var throttled atomic.Bool
	var be backend
	be, gh := emulatorBackend(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdatePipeline") && throttled.CompareAndSwap(false, true) {
				name := "p"
				if _, err := be.admin.StartPipelineExecution(r.Context(), &sdk.StartPipelineExecutionInput{Name: &name}); err != nil {
					t.Errorf("start a deployment: %v", err)
				}
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	old, _, res := applyToIdle(t, be, gh, time.Hour) // the deployment the retry meets
	if !throttled.Load() {
		t.Fatal("no UpdatePipeline was throttled: the test shows nothing")
	}
	if got := be.stored(t, "p", "GitHub"); !got.Equal(old) {
		t.Fatalf("the pipeline holds %v, want the old token", got)
	}
	if res.Err != nil || res.Waiting == "" {
		t.Errorf("result %+v: want waiting on the old token (the throttled attempt never landed), not failed", res)
	}
}

// applyToIdle creates pipeline p holding a generated token (old), waits for the
// execution CreatePipeline starts to end, gives p's Build stage buildTime
// (0: the emulator's default) for the deployments that start from then on,
// and applies a new token to p with in_flight: skip. be's wrapper decides
// how the emulator answers.
func applyToIdle(t *testing.T, be backend, gh *fakeGitHub, buildTime time.Duration) (old, fresh token.Token, res rotation.Result) {
	t.Helper()
	old, fresh = token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	gh.allow(old, true)
	gh.allow(fresh, true)
	create(t, be, testDecl("p", ghSpec{"GitHub", "acme", "deploy", old}))
	for be.emu.Busy("p") {
		time.Sleep(5 * time.Millisecond)
	}
	if buildTime > 0 {
		be.emu.SetRunTime("p", "Build", buildTime)
	}
	tg := newTarget(t, be, Config{Match: &Match{Repo: "deploy"}, InFlight: InFlightSkip})
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return old, fresh, applyResults(tg, fresh, bs, rotation.WaitBounds{})[id("p", "Source", "GitHub")]
}
