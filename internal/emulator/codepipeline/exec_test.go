package codepipeline_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

func TestServer_Executions(t *testing.T) {
	ctx := context.Background()
	good := token.Generate(token.KindClassicPAT)
	gh, ghURL := newFakeGitHub(t, good)
	e := start(t, codepipeline.World{}, codepipeline.Options{GitHubURL: ghURL})
	name := aws.String("MyFirstPipeline")

	if _, err := e.client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: seedDecl(*name, good)}); err != nil {
		t.Fatalf("CreatePipeline: %v", err)
	}
	// Creating a pipeline starts it, as in AWS.
	list, err := e.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: name})
	if err != nil || len(list.PipelineExecutionSummaries) != 1 {
		t.Fatalf("executions after create = %v, %v; want one", list, err)
	}
	first := list.PipelineExecutionSummaries[0]
	if first.Trigger.TriggerType != types.TriggerTypeCreatePipeline {
		t.Errorf("trigger = %q, want CreatePipeline", first.Trigger.TriggerType)
	}
	if st := executionStatus(t, e.client, *name, *first.PipelineExecutionId); st != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("first execution = %s, want Succeeded", st)
	}

	out, err := e.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: name})
	if err != nil {
		t.Fatalf("StartPipelineExecution: %v", err)
	}
	ok := aws.ToString(out.PipelineExecutionId)
	if st := executionStatus(t, e.client, *name, ok); st != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("execution with a good token = %s, want Succeeded", st)
	}
	state, err := e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: name})
	if err != nil {
		t.Fatalf("GetPipelineState: %v", err)
	}
	for _, s := range state.StageStates {
		if s.LatestExecution == nil || s.LatestExecution.Status != types.StageExecutionStatusSucceeded || aws.ToString(s.LatestExecution.PipelineExecutionId) != ok {
			t.Errorf("stage %s latest = %+v, want Succeeded in %s", aws.ToString(s.StageName), s.LatestExecution, ok)
		}
	}

	// The token dies (revoked in GitHub): the next execution fails at the source.
	gh.allow(good, false)
	out, err = e.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: name})
	if err != nil {
		t.Fatalf("StartPipelineExecution: %v", err)
	}
	bad := aws.ToString(out.PipelineExecutionId)
	if st := executionStatus(t, e.client, *name, bad); st != types.PipelineExecutionStatusFailed {
		t.Fatalf("execution with a revoked token = %s, want Failed", st)
	}
	state, err = e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: name})
	if err != nil {
		t.Fatalf("GetPipelineState: %v", err)
	}
	src := state.StageStates[0]
	if src.LatestExecution.Status != types.StageExecutionStatusFailed {
		t.Errorf("source stage = %s, want Failed", src.LatestExecution.Status)
	}
	ae := src.ActionStates[0].LatestExecution
	if ae == nil || ae.ErrorDetails == nil || aws.ToString(ae.ErrorDetails.Message) != "Could not access the GitHub repository" {
		t.Fatalf("source action = %+v, want errorDetails 'Could not access the GitHub repository'", ae)
	}
	if aws.ToString(src.ActionStates[0].EntityUrl) != "https://github.com/MyGitHubUserName/test-repo/tree/master" {
		t.Errorf("entityUrl = %q", aws.ToString(src.ActionStates[0].EntityUrl))
	}
	// The build stage still shows the last execution that reached it.
	if b := state.StageStates[1].LatestExecution; aws.ToString(b.PipelineExecutionId) != ok {
		t.Errorf("build stage latest = %s, want %s", aws.ToString(b.PipelineExecutionId), ok)
	}

	// Newest first.
	list, err = e.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: name})
	if err != nil {
		t.Fatalf("ListPipelineExecutions: %v", err)
	}
	var ids []string
	for _, s := range list.PipelineExecutionSummaries {
		ids = append(ids, aws.ToString(s.PipelineExecutionId))
	}
	if len(ids) != 3 || ids[0] != bad || ids[1] != ok {
		t.Errorf("executions = %v, want [%s %s first]", ids, bad, ok)
	}
	// Paging one at a time gives the same order.
	var paged []string
	p := cp.NewListPipelineExecutionsPaginator(e.client, &cp.ListPipelineExecutionsInput{PipelineName: name, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListPipelineExecutions page: %v", err)
		}
		for _, s := range page.PipelineExecutionSummaries {
			paged = append(paged, aws.ToString(s.PipelineExecutionId))
		}
	}
	if len(paged) != 3 || paged[0] != ids[0] || paged[2] != ids[2] {
		t.Errorf("paged = %v, want %v", paged, ids)
	}

	// Every execution's fetch is in the record, with the token it used.
	var execFetches []codepipeline.Fetch
	for _, f := range e.srv.Fetches() {
		if f.Trigger == codepipeline.TriggerExecution {
			execFetches = append(execFetches, f)
		}
	}
	if len(execFetches) != 3 || !execFetches[0].OK || execFetches[2].OK || execFetches[2].Status != 401 {
		t.Errorf("execution fetches = %+v", execFetches)
	}
	if execFetches[2].TokenFingerprint != good.Fingerprint() {
		t.Errorf("fingerprint = %s, want %s", execFetches[2].TokenFingerprint, good.Fingerprint())
	}
}

func TestServer_StartPipelineExecution_Idempotent(t *testing.T) {
	ctx := context.Background()
	good := token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, good)
	e := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("P", good.Reveal(), "false")}}}, codepipeline.Options{GitHubURL: ghURL})
	in := &cp.StartPipelineExecutionInput{Name: aws.String("P"), ClientRequestToken: aws.String("req-1")}
	a, err := e.client.StartPipelineExecution(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.client.StartPipelineExecution(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(a.PipelineExecutionId) != aws.ToString(b.PipelineExecutionId) {
		t.Errorf("same clientRequestToken started two executions: %s, %s", aws.ToString(a.PipelineExecutionId), aws.ToString(b.PipelineExecutionId))
	}
	executionStatus(t, e.client, "P", aws.ToString(a.PipelineExecutionId))
}

func TestServer_Polling(t *testing.T) {
	good := token.Generate(token.KindClassicPAT)
	other := token.Generate(token.KindClassicPAT)
	gh, ghURL := newFakeGitHub(t, good)
	e := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{
		{JSON: seedJSON("Polls", good.Reveal(), "")},
		{JSON: seedJSON("PollsTrue", good.Reveal(), "true")},
		{JSON: seedJSON("Webhook", good.Reveal(), "false")},
		{JSON: seedJSON("Broken", other.Reveal(), "")},
	}}, codepipeline.Options{GitHubURL: ghURL, PollInterval: 20_000_000})

	count := func() map[string]int {
		n := map[string]int{}
		for _, f := range e.srv.Fetches() {
			n[f.Pipeline]++
		}
		return n
	}
	waitFor(t, "three polls of each polling pipeline", func() bool {
		n := count()
		return n["Polls"] >= 3 && n["PollsTrue"] >= 3 && n["Broken"] >= 3
	})
	for _, f := range e.srv.Fetches() {
		switch f.Pipeline {
		case "Webhook":
			t.Errorf("a pipeline with PollForSourceChanges=false was polled: %+v", f)
		case "Broken":
			if f.OK || f.Status != 401 || f.Reason != "GitHub answered 401: Bad credentials" || f.TokenFingerprint != other.Fingerprint() {
				t.Errorf("broken fetch = %+v", f)
			}
		default:
			if !f.OK || f.Status != 200 || f.Trigger != codepipeline.TriggerPoll || f.Action != "Source" || f.TokenFingerprint != good.Fingerprint() {
				t.Errorf("fetch = %+v", f)
			}
		}
	}
	sum := e.srv.FetchSummary()
	if sum.Total != int64(len(e.srv.Fetches())) || sum.Failed == 0 {
		t.Errorf("summary %+v does not match the record", sum)
	}

	// Revoking the token shows up in the record as failed polls.
	e.srv.ResetFetches()
	if n := len(e.srv.Fetches()); n != 0 {
		t.Fatalf("record after reset has %d entries", n)
	}
	gh.allow(good, false)
	waitFor(t, "a failed poll of Polls", func() bool {
		for _, f := range e.srv.Fetches() {
			if f.Pipeline == "Polls" && !f.OK {
				return true
			}
		}
		return false
	})
}
