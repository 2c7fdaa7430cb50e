package codepipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

func TestServer_CreateGetUpdate(t *testing.T) {
	ctx := context.Background()
	e := start(t, codepipeline.World{}, codepipeline.Options{})
	old := token.Generate(token.KindClassicPAT)

	created, err := e.client.CreatePipeline(ctx, &cp.CreatePipelineInput{
		Pipeline: seedDecl("MyFirstPipeline", old),
		Tags:     []types.Tag{{Key: aws.String("team"), Value: aws.String("ci")}},
	})
	if err != nil {
		t.Fatalf("CreatePipeline: %v", err)
	}
	if v := aws.ToInt32(created.Pipeline.Version); v != 1 {
		t.Errorf("created version = %d, want 1", v)
	}
	if got := created.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"]; got != "****" {
		t.Errorf("CreatePipeline OAuthToken = %q, want ****", got)
	}

	got, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("MyFirstPipeline")})
	if err != nil {
		t.Fatalf("GetPipeline: %v", err)
	}
	if tok := got.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"]; tok != "****" {
		t.Errorf("GetPipeline OAuthToken = %q, want ****", tok)
	}
	if arn := aws.ToString(got.Metadata.PipelineArn); arn != "arn:aws:codepipeline:us-east-1:123456789012:MyFirstPipeline" {
		t.Errorf("pipelineArn = %q", arn)
	}
	if got.Metadata.Created == nil || got.Metadata.Updated == nil || got.Metadata.Created.IsZero() {
		t.Errorf("metadata times missing: %+v", got.Metadata)
	}
	if stored, _ := e.srv.StoredToken("MyFirstPipeline", "Source"); !stored.Equal(old) {
		t.Errorf("stored token = %v, want %v", stored, old)
	}
	// Defaults AWS fills in are visible, so a Get sent back is stable.
	if a := got.Pipeline.Stages[1].Actions[0]; aws.ToInt32(a.RunOrder) != 1 || a.OutputArtifacts == nil {
		t.Errorf("defaults not filled: runOrder %v outputArtifacts %v", a.RunOrder, a.OutputArtifacts)
	}

	before, _ := json.Marshal(got.Pipeline)

	// Rotate: the declaration from Get with only the token changed.
	fresh := token.Generate(token.KindClassicPAT)
	decl := got.Pipeline
	decl.Stages[0].Actions[0].Configuration["OAuthToken"] = fresh.Reveal()
	decl.Version = aws.Int32(7) // AWS ignores the version sent
	up, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: decl})
	if err != nil {
		t.Fatalf("UpdatePipeline: %v", err)
	}
	if v := aws.ToInt32(up.Pipeline.Version); v != 2 {
		t.Errorf("updated version = %d, want 2", v)
	}
	if tok := up.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"]; tok != "****" {
		t.Errorf("UpdatePipeline OAuthToken = %q, want ****", tok)
	}
	if stored, _ := e.srv.StoredToken("MyFirstPipeline", "Source"); !stored.Equal(fresh) {
		t.Errorf("stored token after update = %v, want %v", stored, fresh)
	}

	// Only the token and the version changed (I4).
	after, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("MyFirstPipeline")})
	if err != nil {
		t.Fatalf("GetPipeline: %v", err)
	}
	now, _ := json.Marshal(after.Pipeline)
	if diff := cmp.Diff(strings.Replace(string(before), `"Version":1`, `"Version":2`, 1), string(now)); diff != "" {
		t.Errorf("declaration changed beyond its version (-before +after):\n%s", diff)
	}

	// The previous version is still readable, masked.
	v1, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("MyFirstPipeline"), Version: aws.Int32(1)})
	if err != nil {
		t.Fatalf("GetPipeline version 1: %v", err)
	}
	if aws.ToInt32(v1.Pipeline.Version) != 1 || v1.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"] != "****" {
		t.Errorf("version 1 = %d %q", aws.ToInt32(v1.Pipeline.Version), v1.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"])
	}

	// The declaration sent back exactly as read, mask included, keeps the
	// stored token (the user guide: "left unchanged unless you edit that
	// portion of the pipeline").
	if _, err = e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: after.Pipeline}); err != nil {
		t.Fatalf("UpdatePipeline with ****: %v", err)
	}
	if stored, _ := e.srv.StoredToken("MyFirstPipeline", "Source"); !stored.Equal(fresh) {
		t.Errorf("stored token after sending the action back as read = %v, want %v kept", stored, fresh)
	}
	// An edited action with the mask stores the mask literally: its next
	// fetch fails.
	after.Pipeline.Stages[0].Actions[0].Configuration["Branch"] = "main"
	if _, err = e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: after.Pipeline}); err != nil {
		t.Fatalf("UpdatePipeline with **** in an edited action: %v", err)
	}
	if stored, _ := e.srv.StoredToken("MyFirstPipeline", "Source"); stored.Reveal() != "****" {
		t.Errorf("stored token after editing the action and sending **** = %v, want the literal ****", stored)
	}
	if _, v, _ := e.srv.Pipeline("MyFirstPipeline"); v != 4 {
		t.Errorf("version = %d, want 4", v)
	}

	tags, err := e.client.ListTagsForResource(ctx, &cp.ListTagsForResourceInput{ResourceArn: got.Metadata.PipelineArn})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" {
		t.Errorf("tags = %+v", tags.Tags)
	}
	if _, err := e.client.TagResource(ctx, &cp.TagResourceInput{ResourceArn: got.Metadata.PipelineArn, Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("rotor")}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := e.client.UntagResource(ctx, &cp.UntagResourceInput{ResourceArn: got.Metadata.PipelineArn, TagKeys: []string{"team"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	tags, _ = e.client.ListTagsForResource(ctx, &cp.ListTagsForResourceInput{ResourceArn: got.Metadata.PipelineArn})
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "owner" {
		t.Errorf("tags after tag/untag = %+v", tags.Tags)
	}

	if _, err := e.client.DeletePipeline(ctx, &cp.DeletePipelineInput{Name: aws.String("MyFirstPipeline")}); err != nil {
		t.Fatalf("DeletePipeline: %v", err)
	}
	if _, err := e.client.DeletePipeline(ctx, &cp.DeletePipelineInput{Name: aws.String("MyFirstPipeline")}); err != nil {
		t.Fatalf("DeletePipeline of a missing pipeline is not an error in AWS: %v", err)
	}
	var nf *types.PipelineNotFoundException
	if _, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("MyFirstPipeline")}); !errors.As(err, &nf) {
		t.Errorf("GetPipeline after delete: %v, want PipelineNotFoundException", err)
	}
}

func TestServer_Validation(t *testing.T) {
	ctx := context.Background()
	tok := token.Generate(token.KindClassicPAT)
	e := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("Existing", tok.Reveal(), "false")}}}, codepipeline.Options{})

	withoutKey := func(key string) func(*types.PipelineDeclaration) {
		return func(d *types.PipelineDeclaration) { delete(d.Stages[0].Actions[0].Configuration, key) }
	}
	tests := []struct {
		name    string
		decl    *types.PipelineDeclaration
		update  bool
		wantErr any // pointer to the typed error errors.As must find
		wantMsg string
	}{
		{name: "missing OAuthToken", decl: seedDecl("p1", tok, withoutKey("OAuthToken")),
			wantErr: new(*types.InvalidActionDeclarationException),
			wantMsg: "Action configuration for action 'Source' is missing required configuration 'OAuthToken'"},
		{name: "missing Branch", decl: seedDecl("p1", tok, withoutKey("Branch")),
			wantErr: new(*types.InvalidActionDeclarationException),
			wantMsg: "Action configuration for action 'Source' is missing required configuration 'Branch'"},
		{name: "unknown configuration", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) { d.Stages[0].Actions[0].Configuration["Bogus"] = "x" }),
			wantErr: new(*types.InvalidActionDeclarationException), wantMsg: "contains unknown configuration 'Bogus'"},
		{name: "one stage", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) { d.Stages = d.Stages[:1] }),
			wantErr: new(*types.InvalidStructureException), wantMsg: "Pipeline has only 1 stage(s). There should be a minimum of 2 stages in a pipeline"},
		{name: "duplicate stage names", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) { d.Stages[1].Name = aws.String("Source") }),
			wantErr: new(*types.InvalidStageDeclarationException), wantMsg: "Stage name 'Source' is used by more than one stage"},
		{name: "duplicate action names", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) {
			a := d.Stages[1].Actions[0]
			d.Stages[1].Actions = append(d.Stages[1].Actions, a)
		}), wantErr: new(*types.InvalidActionDeclarationException), wantMsg: "Action name 'Build' is used by more than one action in stage 'Build'"},
		{name: "build action in first stage", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) {
			d.Stages[0].Actions = append(d.Stages[0].Actions, d.Stages[1].Actions[0])
		}), wantErr: new(*types.InvalidStructureException), wantMsg: "Pipeline should start with a stage that only contains source actions"},
		{name: "source action in second stage", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) {
			src := d.Stages[0].Actions[0]
			src.Name = aws.String("Source2")
			src.OutputArtifacts = []types.OutputArtifact{{Name: aws.String("Other")}}
			d.Stages[1].Actions = append(d.Stages[1].Actions, src)
		}), wantErr: new(*types.InvalidStructureException), wantMsg: "Source actions may appear only in the first stage"},
		{name: "input artifact nobody produces", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) {
			d.Stages[1].Actions[0].InputArtifacts = []types.InputArtifact{{Name: aws.String("Nope")}}
		}), wantErr: new(*types.InvalidStructureException), wantMsg: "Input Artifact Bundle 'Nope' in action 'Build' is not declared as an output artifact"},
		{name: "bad name", decl: seedDecl("bad name!", tok),
			wantErr: new(*types.ValidationException), wantMsg: "Value 'bad name!' at 'pipeline.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+"},
		{name: "bad role", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) { d.RoleArn = aws.String("arn:aws:iam::12:role/x") }),
			wantErr: new(*types.ValidationException), wantMsg: "at 'pipeline.roleArn' failed to satisfy constraint"},
		{name: "configuration value too long", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) {
			d.Stages[1].Actions[0].Configuration["ProjectName"] = strings.Repeat("x", 1001)
		}),
			wantErr: new(*types.ValidationException), wantMsg: "Value at 'pipeline.stages.2.member.actions.1.member.configuration' failed to satisfy constraint: Map value must satisfy constraint"},
		{name: "no artifact store", decl: seedDecl("p1", tok, func(d *types.PipelineDeclaration) { d.ArtifactStore = nil }),
			wantErr: new(*types.InvalidStructureException), wantMsg: "has no artifact store"},
		{name: "name in use", decl: seedDecl("Existing", tok),
			wantErr: new(*types.PipelineNameInUseException), wantMsg: "A pipeline with the name 'Existing' already exists"},
		{name: "update validates too", decl: seedDecl("Existing", tok, withoutKey("OAuthToken")), update: true,
			wantErr: new(*types.InvalidActionDeclarationException), wantMsg: "missing required configuration 'OAuthToken'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.update {
				_, err = e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: tt.decl})
			} else {
				_, err = e.client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: tt.decl})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(err, tt.wantErr) {
				t.Fatalf("error %T (%v) is not %T", errors.Unwrap(err), err, tt.wantErr)
			}
			var api smithy.APIError
			errors.As(err, &api)
			if !strings.Contains(api.ErrorMessage(), tt.wantMsg) {
				t.Errorf("message %q does not contain %q", api.ErrorMessage(), tt.wantMsg)
			}
			if strings.Contains(err.Error(), tok.Reveal()) {
				t.Errorf("error reveals the token")
			}
		})
	}
	if _, v, _ := e.srv.Pipeline("Existing"); v != 1 {
		t.Errorf("a refused update changed the version to %d", v)
	}
}

func TestServer_NotFoundErrors(t *testing.T) {
	ctx := context.Background()
	tok := token.Generate(token.KindClassicPAT)
	e := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("Existing", tok.Reveal(), "false")}}}, codepipeline.Options{})
	missing := aws.String("Missing")
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"get", func() error { _, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: missing}); return err }, "PipelineNotFoundException"},
		{"get version", func() error {
			_, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Existing"), Version: aws.Int32(9)})
			return err
		}, "PipelineVersionNotFoundException"},
		{"update", func() error {
			_, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: seedDecl("Missing", tok)})
			return err
		}, "ValidationException"},
		{"state", func() error {
			_, err := e.client.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: missing})
			return err
		}, "PipelineNotFoundException"},
		{"start", func() error {
			_, err := e.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: missing})
			return err
		}, "PipelineNotFoundException"},
		{"execution", func() error {
			_, err := e.client.GetPipelineExecution(ctx, &cp.GetPipelineExecutionInput{PipelineName: aws.String("Existing"), PipelineExecutionId: aws.String("00000000-0000-4000-8000-000000000000")})
			return err
		}, "PipelineExecutionNotFoundException"},
		{"executions", func() error {
			_, err := e.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: missing})
			return err
		}, "PipelineNotFoundException"},
		{"tags", func() error {
			_, err := e.client.ListTagsForResource(ctx, &cp.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:codepipeline:us-east-1:123456789012:Missing")})
			return err
		}, "ResourceNotFoundException"},
		{"bad next token", func() error {
			_, err := e.client.ListPipelines(ctx, &cp.ListPipelinesInput{NextToken: aws.String("!!")})
			return err
		}, "InvalidNextTokenException"},
		{"max results out of range", func() error {
			_, err := e.client.ListPipelines(ctx, &cp.ListPipelinesInput{MaxResults: aws.Int32(1001)})
			return err
		}, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.code {
				t.Fatalf("error = %v, want %s", err, tt.code)
			}
		})
	}
}

func TestServer_ListPipelines(t *testing.T) {
	ctx := context.Background()
	tok := token.Generate(token.KindClassicPAT).Reveal()
	var w codepipeline.World
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("pipeline-%02d", i)
		want = append(want, name)
		w.Pipelines = append(w.Pipelines, codepipeline.PipelineSpec{JSON: seedJSON(name, tok, "false")})
	}
	e := start(t, w, codepipeline.Options{})

	tests := []struct {
		name      string
		max       *int32
		wantPages int
	}{
		{"default page size", nil, 1},
		{"pages of 10", aws.Int32(10), 3},
		{"pages of 1", aws.Int32(1), 25},
		{"page of 1000", aws.Int32(1000), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			pages := 0
			p := cp.NewListPipelinesPaginator(e.client, &cp.ListPipelinesInput{MaxResults: tt.max})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListPipelines: %v", err)
				}
				pages++
				for _, s := range out.Pipelines {
					got = append(got, aws.ToString(s.Name))
					if aws.ToInt32(s.Version) != 1 || s.Created == nil || s.PipelineType != types.PipelineTypeV1 {
						t.Errorf("summary %+v", s)
					}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("pages = %d, want %d", pages, tt.wantPages)
			}
		})
	}
}

func TestServer_Faults(t *testing.T) {
	ctx := context.Background()
	tok := token.Generate(token.KindClassicPAT)
	e := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{
		{JSON: seedJSON("A", tok.Reveal(), "false")}, {JSON: seedJSON("B", tok.Reveal(), "false")},
	}}, codepipeline.Options{})
	faults := e.srv.Faults()

	t.Run("throttling is retried by the SDK", func(t *testing.T) {
		faults.SetRules([]faultRule{{Service: "codepipeline", Operation: "GetPipeline", RatePerSecond: 20, Burst: 1}})
		faults.ResetCounts()
		c := newClient(e.url, 50)
		for range 3 {
			if _, err := c.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("A")}); err != nil {
				t.Fatalf("GetPipeline under throttling: %v", err)
			}
		}
		if n := faults.Counts()["codepipeline GetPipeline"].Throttled; n == 0 {
			t.Errorf("no request was throttled")
		}
	})
	t.Run("throttling error shape", func(t *testing.T) {
		faults.SetRules([]faultRule{{Service: "codepipeline", Operation: "ListPipelines", RatePerSecond: 0.001, Burst: 1}})
		c := newClient(e.url, 1)
		_, _ = c.ListPipelines(ctx, &cp.ListPipelinesInput{})
		_, err := c.ListPipelines(ctx, &cp.ListPipelinesInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" || api.ErrorMessage() != "Rate exceeded" {
			t.Errorf("error = %v, want ThrottlingException: Rate exceeded", err)
		}
	})
	t.Run("server errors are 500 InternalFailure", func(t *testing.T) {
		faults.SetRules([]faultRule{{Service: "codepipeline", ErrorRate: 1}})
		faults.ResetCounts()
		_, err := newClient(e.url, 2).GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("A")})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InternalFailure" {
			t.Errorf("error = %v, want InternalFailure", err)
		}
		if n := faults.Counts()["codepipeline GetPipeline"].Requests; n != 2 {
			t.Errorf("requests = %d, want 2 (the SDK retries a 500)", n)
		}
	})
	t.Run("fail one named pipeline", func(t *testing.T) {
		faults.SetRules([]faultRule{{Service: "codepipeline", Operation: "UpdatePipeline", Resource: "B", Fail: true}})
		if _, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: seedDecl("A", tok)}); err != nil {
			t.Errorf("UpdatePipeline A: %v", err)
		}
		_, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: seedDecl("B", tok)})
		var ve *types.ValidationException
		if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "Injected fault: UpdatePipeline on 'B'") {
			t.Errorf("UpdatePipeline B: %v, want an injected ValidationException", err)
		}
		if _, v, _ := e.srv.Pipeline("B"); v != 1 {
			t.Errorf("failed update changed B to version %d", v)
		}
	})
	faults.SetRules(nil)
}
