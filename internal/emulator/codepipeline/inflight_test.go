package codepipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// approvalStage adds a stage whose manual approval holds every execution.
func approvalStage(d *types.PipelineDeclaration) {
	d.Stages = append(d.Stages, types.StageDeclaration{Name: aws.String("Approve"), Actions: []types.ActionDeclaration{{
		Name:          aws.String("Gate"),
		ActionTypeId:  &types.ActionTypeId{Category: types.ActionCategoryApproval, Owner: types.ActionOwnerAws, Provider: aws.String("Manual"), Version: aws.String("1")},
		Configuration: map[string]string{"CustomData": "release?"},
	}}})
}

func mode(m types.ExecutionMode) func(*types.PipelineDeclaration) {
	return func(d *types.PipelineDeclaration) { d.ExecutionMode = m; d.PipelineType = types.PipelineTypeV2 }
}

// busy creates a pipeline whose Build stage runs for an hour and waits until
// a new execution is in it.
func busy(t *testing.T, e env, tok token.Token, name string, extra ...func(*types.PipelineDeclaration)) string {
	t.Helper()
	if _, err := e.client.CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: seedDecl(name, tok, extra...)}); err != nil {
		t.Fatalf("CreatePipeline: %v", err)
	}
	var id string
	waitFor(t, "the execution to reach Build", func() bool {
		st, err := e.client.GetPipelineState(context.Background(), &cp.GetPipelineStateInput{Name: &name})
		if err != nil {
			t.Fatalf("GetPipelineState: %v", err)
		}
		b := st.StageStates[1].LatestExecution
		if b == nil || b.Status != types.StageExecutionStatusInProgress {
			return false
		}
		id = aws.ToString(b.PipelineExecutionId)
		return true
	})
	return id
}

func TestServer_UpdateStopsExecutionInProgress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []func(*types.PipelineDeclaration)
		want  types.PipelineExecutionStatus
	}{
		{"superseded by default", nil, types.PipelineExecutionStatusSuperseded},
		{"SUPERSEDED", []func(*types.PipelineDeclaration){mode(types.ExecutionModeSuperseded)}, types.PipelineExecutionStatusSuperseded},
		{"QUEUED", []func(*types.PipelineDeclaration){mode(types.ExecutionModeQueued)}, types.PipelineExecutionStatusStopped},
		{"PARALLEL", []func(*types.PipelineDeclaration){mode(types.ExecutionModeParallel)}, types.PipelineExecutionStatusStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			good := token.Generate(token.KindClassicPAT)
			_, ghURL := newFakeGitHub(t, good)
			e := start(t, codepipeline.World{RunTimes: []codepipeline.RunTime{{Pipeline: "*", Stage: "Build", RunTime: fault.Duration{Duration: time.Hour}}}},
				codepipeline.Options{GitHubURL: ghURL})
			id := busy(t, e, good, "P", tc.extra...)
			name := aws.String("P")
			if _, err := e.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: name, MaxResults: aws.Int32(5)}); err != nil {
				t.Fatal(err)
			}
			got, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: got.Pipeline}); err != nil {
				t.Fatalf("UpdatePipeline: %v", err)
			}

			ex, err := e.client.GetPipelineExecution(ctx, &cp.GetPipelineExecutionInput{PipelineName: name, PipelineExecutionId: &id})
			if err != nil {
				t.Fatal(err)
			}
			if ex.PipelineExecution.Status != tc.want {
				t.Errorf("GetPipelineExecution status = %s, want %s", ex.PipelineExecution.Status, tc.want)
			}
			list, err := e.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: name})
			if err != nil || len(list.PipelineExecutionSummaries) != 1 || list.PipelineExecutionSummaries[0].Status != tc.want {
				t.Errorf("ListPipelineExecutions = %+v, %v; want one %s", list, err, tc.want)
			}
			st, err := e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			build := st.StageStates[1]
			if build.LatestExecution.Status != types.StageExecutionStatusCancelled || build.ActionStates[0].LatestExecution.Status != types.ActionExecutionStatusAbandoned {
				t.Errorf("Build stage = %s, action = %s; want Cancelled, Abandoned", build.LatestExecution.Status, build.ActionStates[0].LatestExecution.Status)
			}
			if e.srv.Busy("P") {
				t.Error("Busy after the update stopped the only execution")
			}

			ups := e.srv.Updates()
			if len(ups) != 1 || len(ups[0].Stopped) != 1 || ups[0].Stopped[0].ID != id || ups[0].Version != 2 {
				t.Fatalf("update record = %+v, want one update that stopped %s", ups, id)
			}
			if w := ups[0].Window(); w < 0 || w > 10*time.Second {
				t.Errorf("window since the last state read = %v", w)
			}
			var rec *codepipeline.Execution
			for _, x := range e.srv.Executions() {
				if x.ID == id {
					rec = &x
				}
			}
			if rec == nil || rec.StoppedBy != codepipeline.StoppedByUpdate || rec.StoppedVersion != 2 || rec.Status != string(tc.want) {
				t.Errorf("execution record = %+v", rec)
			}
		})
	}
}

func TestServer_UpdateOfIdlePipelineStopsNothing(t *testing.T) {
	ctx := context.Background()
	good := token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, good)
	e := start(t, codepipeline.World{}, codepipeline.Options{GitHubURL: ghURL})
	if _, err := e.client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: seedDecl("P", good)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first execution to finish", func() bool { return !e.srv.Busy("P") })
	got, _ := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("P")})
	if _, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: got.Pipeline}); err != nil {
		t.Fatal(err)
	}
	ups := e.srv.Updates()
	if len(ups) != 1 || len(ups[0].Stopped) != 0 || !ups[0].StateRead.IsZero() || ups[0].Window() != -1 {
		t.Errorf("update record = %+v; want nothing stopped and no state read", ups)
	}
	for _, x := range e.srv.Executions() {
		if x.StoppedBy != "" || x.Status != "Succeeded" {
			t.Errorf("execution %+v", x)
		}
	}
}

func TestServer_ManualApproval(t *testing.T) {
	ctx := context.Background()
	good := token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, good)
	e := start(t, codepipeline.World{}, codepipeline.Options{GitHubURL: ghURL})
	name := aws.String("Gated")
	if _, err := e.client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: seedDecl(*name, good, approvalStage)}); err != nil {
		t.Fatalf("CreatePipeline with a manual approval: %v", err)
	}
	approvalToken := func() (string, string) {
		var tok, exec string
		waitFor(t, "the approval to wait", func() bool {
			st, err := e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			g := st.StageStates[2]
			if g.LatestExecution == nil || g.ActionStates[0].LatestExecution == nil {
				return false
			}
			a := g.ActionStates[0].LatestExecution
			tok, exec = aws.ToString(a.Token), aws.ToString(g.LatestExecution.PipelineExecutionId)
			return a.Status == types.ActionExecutionStatusInProgress && tok != ""
		})
		return tok, exec
	}
	tok, first := approvalToken()
	if pa := e.srv.PendingApprovals(); len(pa) != 1 || pa[0].Token != tok || pa[0].Execution != first || pa[0].Stage != "Approve" || pa[0].Action != "Gate" {
		t.Errorf("PendingApprovals = %+v, want the one waiting", pa)
	}
	time.Sleep(50 * time.Millisecond)
	if !e.srv.Busy(*name) {
		t.Fatal("an execution waiting at an approval is not in progress")
	}
	put := func(tok string, status types.ApprovalStatus) error {
		_, err := e.client.PutApprovalResult(ctx, &cp.PutApprovalResultInput{PipelineName: name, StageName: aws.String("Approve"), ActionName: aws.String("Gate"),
			Token: aws.String(tok), Result: &types.ApprovalResult{Status: status, Summary: aws.String("looks good")}})
		return err
	}
	var nf *types.InvalidApprovalTokenException
	if err := put("00000000-0000-4000-8000-000000000000", types.ApprovalStatusApproved); !errors.As(err, &nf) {
		t.Errorf("a wrong token = %v, want InvalidApprovalTokenException", err)
	}
	var an *types.ActionNotFoundException
	if _, err := e.client.PutApprovalResult(ctx, &cp.PutApprovalResultInput{PipelineName: name, StageName: aws.String("Approve"), ActionName: aws.String("Nope"),
		Token: aws.String(tok), Result: &types.ApprovalResult{Status: types.ApprovalStatusApproved, Summary: aws.String("")}}); !errors.As(err, &an) {
		t.Errorf("an unknown action = %v, want ActionNotFoundException", err)
	}
	if err := put(tok, types.ApprovalStatusApproved); err != nil {
		t.Fatalf("PutApprovalResult: %v", err)
	}
	if st := executionStatus(t, e.client, *name, first); st != types.PipelineExecutionStatusSucceeded {
		t.Errorf("approved execution = %s, want Succeeded", st)
	}
	if err := put(tok, types.ApprovalStatusApproved); !errors.As(err, &nf) {
		t.Errorf("answering twice = %v, want InvalidApprovalTokenException", err)
	}

	// Rejected fails the stage and the execution.
	out, err := e.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	tok, second := approvalToken()
	if second != aws.ToString(out.PipelineExecutionId) {
		t.Fatalf("waiting execution %s, want %s", second, aws.ToString(out.PipelineExecutionId))
	}
	if err := put(tok, types.ApprovalStatusRejected); err != nil {
		t.Fatal(err)
	}
	if st := executionStatus(t, e.client, *name, second); st != types.PipelineExecutionStatusFailed {
		t.Errorf("rejected execution = %s, want Failed", st)
	}
	st, _ := e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: name})
	if g := st.StageStates[2]; g.LatestExecution.Status != types.StageExecutionStatusFailed || g.ActionStates[0].LatestExecution.Status != types.ActionExecutionStatusFailed {
		t.Errorf("Approve stage after rejection = %+v", g.LatestExecution)
	}

	// An update stops an execution held at an approval; its token is dead.
	if _, err := e.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: name}); err != nil {
		t.Fatal(err)
	}
	tok, third := approvalToken()
	got, _ := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: name})
	if _, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: got.Pipeline}); err != nil {
		t.Fatal(err)
	}
	if st := executionStatus(t, e.client, *name, third); st != types.PipelineExecutionStatusSuperseded {
		t.Errorf("execution held at an approval after an update = %s, want Superseded", st)
	}
	if err := put(tok, types.ApprovalStatusApproved); err == nil {
		t.Error("approving a stopped execution succeeded")
	}
}

func TestServer_ManualApproval_Validation(t *testing.T) {
	ctx := context.Background()
	e := start(t, codepipeline.World{}, codepipeline.Options{})
	var ia *types.InvalidActionDeclarationException
	bad := func(d *types.PipelineDeclaration) {
		approvalStage(d)
		d.Stages[2].Actions[0].Configuration = map[string]string{"Approvers": "me"}
	}
	if _, err := e.client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: seedDecl("P", token.Generate(token.KindClassicPAT), bad)}); !errors.As(err, &ia) {
		t.Errorf("an approval with an unknown property = %v, want InvalidActionDeclarationException", err)
	}
}

func TestServer_StopPipelineExecution(t *testing.T) {
	ctx := context.Background()
	good := token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, good)
	e := start(t, codepipeline.World{RunTimes: []codepipeline.RunTime{{Pipeline: "P*", Stage: "Bu*", RunTime: fault.Duration{Duration: time.Hour}}}},
		codepipeline.Options{GitHubURL: ghURL})
	id := busy(t, e, good, "P")
	name := aws.String("P")
	if _, err := e.client.StopPipelineExecution(ctx, &cp.StopPipelineExecutionInput{PipelineName: name, PipelineExecutionId: &id, Abandon: true, Reason: aws.String("bad release")}); err != nil {
		t.Fatalf("StopPipelineExecution: %v", err)
	}
	if st := executionStatus(t, e.client, "P", id); st != types.PipelineExecutionStatusStopped {
		t.Errorf("status = %s, want Stopped", st)
	}
	list, _ := e.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: name})
	if s := list.PipelineExecutionSummaries[0]; s.StopTrigger == nil || aws.ToString(s.StopTrigger.Reason) != "bad release" {
		t.Errorf("stopTrigger = %+v", s.StopTrigger)
	}
	var ns *types.PipelineExecutionNotStoppableException
	if _, err := e.client.StopPipelineExecution(ctx, &cp.StopPipelineExecutionInput{PipelineName: name, PipelineExecutionId: &id}); !errors.As(err, &ns) {
		t.Errorf("stopping a stopped execution = %v, want PipelineExecutionNotStoppableException", err)
	}
	for _, x := range e.srv.Executions() {
		if x.ID == id && x.StoppedBy != codepipeline.StoppedByStop {
			t.Errorf("record = %+v", x)
		}
	}

	// Without abandon the action in progress finishes first.
	e.srv.SetRunTime("P", "Build", 300*time.Millisecond)
	out, err := e.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	id = aws.ToString(out.PipelineExecutionId)
	waitFor(t, "Build", func() bool {
		st, _ := e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: name})
		b := st.StageStates[1].LatestExecution
		return b != nil && aws.ToString(b.PipelineExecutionId) == id && b.Status == types.StageExecutionStatusInProgress
	})
	if _, err := e.client.StopPipelineExecution(ctx, &cp.StopPipelineExecutionInput{PipelineName: name, PipelineExecutionId: &id}); err != nil {
		t.Fatal(err)
	}
	ex, _ := e.client.GetPipelineExecution(ctx, &cp.GetPipelineExecutionInput{PipelineName: name, PipelineExecutionId: &id})
	if ex.PipelineExecution.Status != types.PipelineExecutionStatusStopping {
		t.Errorf("status right after a stop without abandon = %s, want Stopping", ex.PipelineExecution.Status)
	}
	var dup *types.DuplicatedStopRequestException
	if _, err := e.client.StopPipelineExecution(ctx, &cp.StopPipelineExecutionInput{PipelineName: name, PipelineExecutionId: &id}); !errors.As(err, &dup) {
		t.Errorf("a second stop = %v, want DuplicatedStopRequestException", err)
	}
	waitFor(t, "Stopped", func() bool {
		ex, _ := e.client.GetPipelineExecution(ctx, &cp.GetPipelineExecutionInput{PipelineName: name, PipelineExecutionId: &id})
		return ex.PipelineExecution.Status == types.PipelineExecutionStatusStopped
	})
	st, _ := e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: name})
	if a := st.StageStates[1].ActionStates[0].LatestExecution; a.Status != types.ActionExecutionStatusSucceeded {
		t.Errorf("the action in progress = %s, want Succeeded (it finished before the stop)", a.Status)
	}
}

func TestServer_UpdateKeepsActionsSentBackAsRead(t *testing.T) {
	ctx := context.Background()
	own, other := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, own, other)
	e := start(t, codepipeline.World{}, codepipeline.Options{GitHubURL: ghURL})
	twoSources := func(d *types.PipelineDeclaration) {
		lib := d.Stages[0].Actions[0]
		lib.Name = aws.String("Lib")
		lib.Configuration = map[string]string{"Owner": "MyGitHubUserName", "Repo": "test-repo", "Branch": "master", "OAuthToken": other.Reveal()}
		lib.OutputArtifacts = []types.OutputArtifact{{Name: aws.String("LibArtifact")}}
		d.Stages[0].Actions = append(d.Stages[0].Actions, lib)
	}
	if _, err := e.client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: seedDecl("P", own, twoSources)}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("P")})
	fresh := token.Generate(token.KindClassicPAT)
	got.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"] = fresh.Reveal()
	if _, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: got.Pipeline}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := e.srv.StoredToken("P", "Source"); !tok.Equal(fresh) {
		t.Errorf("Source = %v, want the token sent", tok)
	}
	if tok, _ := e.srv.StoredToken("P", "Lib"); !tok.Equal(other) {
		t.Errorf("Lib, sent back as read with ****, = %v, want its token kept", tok)
	}
	// A renamed action is not the one that was read: its **** is literal.
	got, _ = e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("P")})
	got.Pipeline.Stages[0].Actions[1].Name = aws.String("Library")
	if _, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: got.Pipeline}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := e.srv.StoredToken("P", "Library"); tok.Reveal() != "****" {
		t.Errorf("renamed action = %v, want the literal ****", tok)
	}
	if tok, _ := e.srv.StoredToken("P", "Source"); !tok.Equal(fresh) {
		t.Errorf("Source after the second update = %v, want kept", tok)
	}
}

func TestWorld_RunTimes(t *testing.T) {
	for _, tc := range []struct {
		name string
		rt   codepipeline.RunTime
		ok   bool
	}{
		{"glob", codepipeline.RunTime{Pipeline: "deploy-*", Stage: "Deploy", RunTime: fault.Duration{Duration: time.Minute}}, true},
		{"no stage", codepipeline.RunTime{Pipeline: "p", RunTime: fault.Duration{Duration: time.Minute}}, false},
		{"bad glob", codepipeline.RunTime{Pipeline: "[", Stage: "s", RunTime: fault.Duration{Duration: time.Minute}}, false},
		{"zero", codepipeline.RunTime{Pipeline: "p", Stage: "s"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := codepipeline.World{RunTimes: []codepipeline.RunTime{tc.rt}}.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
