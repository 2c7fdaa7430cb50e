package codepipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

func TestWorld_YAML(t *testing.T) {
	src := `account: "111122223333"
region: eu-west-1
poll_interval: 50ms
pipelines:
  - name: FromYAML
    roleArn: arn:aws:iam::111122223333:role/svc
    artifactStore: {type: S3, location: my-bucket}
    stages:
      - name: Source
        actions:
          - name: Source
            actionTypeId: {category: Source, owner: ThirdParty, provider: GitHub, version: "1"}
            configuration: {Owner: o, Repo: r, Branch: main, OAuthToken: "{{token:codepipeline}}"}
            outputArtifacts: [{name: Out}]
      - name: Approve
        actions:
          - name: Approve
            actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
`
	var w codepipeline.World
	if err := yaml.UnmarshalWithOptions([]byte(src), &w, yaml.Strict()); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	if w.Pipelines[0].Line != 5 {
		t.Errorf("pipeline line = %d, want 5", w.Pipelines[0].Line)
	}
	secret := token.Generate(token.KindClassicPAT)
	var asked []string
	srv, err := codepipeline.New(w, codepipeline.Options{PollInterval: -1, TokenRef: func(note string) (token.Token, error) {
		asked = append(asked, note)
		return secret, nil
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer srv.Close()
	if diff := cmp.Diff([]string{"codepipeline"}, asked); diff != "" {
		t.Errorf("token references (-want +got):\n%s", diff)
	}
	if got, ok := srv.StoredToken("FromYAML", "Source"); !ok || !got.Equal(secret) {
		t.Errorf("stored token = %v, want the referenced one", got)
	}
	if srv.Account() != "111122223333" || srv.Region() != "eu-west-1" {
		t.Errorf("account/region = %s/%s", srv.Account(), srv.Region())
	}
	decl, v, ok := srv.Pipeline("FromYAML")
	if !ok || v != 1 || !strings.Contains(string(decl), `"OAuthToken":"****"`) {
		t.Errorf("Pipeline = %s v%d %v", decl, v, ok)
	}
}

func TestWorld_Validate(t *testing.T) {
	tok := token.Generate(token.KindClassicPAT).Reveal()
	good := seedJSON("Good", tok, "")
	tests := []struct {
		name    string
		world   codepipeline.World
		wantErr string
	}{
		{"good", codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: good}}}, ""},
		{"unknown key", codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: json.RawMessage(strings.Replace(string(good), `"roleArn"`, `"rolArn": "x", "roleArn"`, 1)), Line: 7}}},
			`pipelines[0] (Good): pipeline declaration: json: unknown field "rolArn"`},
		{"invalid pipeline", codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: json.RawMessage(strings.Replace(string(good), `"OAuthToken"`, `"OAuthTokn"`, 1))}}},
			`pipelines[0] (Good): InvalidActionDeclarationException: Action configuration for action 'Source' is missing required configuration 'OAuthToken'`},
		{"duplicate", codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: good}, {JSON: good}}}, `pipelines[1] (Good): a pipeline named "Good" is declared twice`},
		{"bad account", codepipeline.World{Account: "12"}, `account "12": want 12 digits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.world.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Validate = %v, want %s", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), tok) {
				t.Error("error reveals the token")
			}
		})
	}
	var we *codepipeline.WorldError
	if err := tests[1].world.Validate(); !errors.As(err, &we) || we.Line != 7 {
		t.Errorf("WorldError line = %+v, want 7", we)
	}
	if _, err := codepipeline.New(codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("R", "{{token:x}}", "")}}}, codepipeline.Options{}); err == nil {
		t.Error("New accepted a token reference without a TokenRef")
	}
}

func TestServer_SnapshotRestore(t *testing.T) {
	ctx := context.Background()
	tok := token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, tok)
	a := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("Keep", tok.Reveal(), "")}}}, codepipeline.Options{GitHubURL: ghURL})
	fresh := token.Generate(token.KindClassicPAT)
	if _, err := a.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: seedDecl("Keep", fresh)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: seedDecl("New", tok), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	list, _ := a.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: aws.String("New")})
	executionStatus(t, a.client, "New", aws.ToString(list.PipelineExecutionSummaries[0].PipelineExecutionId))

	snap, err := a.srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, codepipeline.World{}, codepipeline.Options{GitHubURL: ghURL})
	if err := b.srv.Restore(snap); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, name := range []string{"Keep", "New"} {
		da, va, _ := a.srv.Pipeline(name)
		db, vb, ok := b.srv.Pipeline(name)
		if !ok || va != vb || string(da) != string(db) {
			t.Errorf("%s: restored v%d %s, want v%d %s", name, vb, db, va, da)
		}
		ta, _ := a.srv.StoredToken(name, "Source")
		tb, _ := b.srv.StoredToken(name, "Source")
		if !ta.Equal(tb) {
			t.Errorf("%s: restored token %v, want %v", name, tb, ta)
		}
	}
	if _, v, _ := b.srv.Pipeline("Keep"); v != 2 {
		t.Errorf("Keep restored at version %d, want 2", v)
	}
	ga, _ := a.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Keep"), Version: aws.Int32(1)})
	gb, err := b.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Keep"), Version: aws.Int32(1)})
	if err != nil || aws.ToInt32(gb.Pipeline.Version) != 1 || !gb.Metadata.Created.Equal(*ga.Metadata.Created) {
		t.Errorf("history not restored: %v", err)
	}
	ex, err := b.client.ListPipelineExecutions(ctx, &cp.ListPipelineExecutionsInput{PipelineName: aws.String("New")})
	if err != nil || len(ex.PipelineExecutionSummaries) != 1 || ex.PipelineExecutionSummaries[0].Status != types.PipelineExecutionStatusSucceeded {
		t.Errorf("executions not restored: %+v %v", ex, err)
	}
	tags, err := b.client.ListTagsForResource(ctx, &cp.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:codepipeline:us-east-1:123456789012:New")})
	if err != nil || len(tags.Tags) != 1 {
		t.Errorf("tags not restored: %+v %v", tags, err)
	}
	// The restored emulator keeps working: update bumps from the restored version.
	up, err := b.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: seedDecl("Keep", tok)})
	if err != nil || aws.ToInt32(up.Pipeline.Version) != 3 {
		t.Errorf("update after restore: %v", err)
	}
	if err := b.srv.Restore([]byte(`{"format":99}`)); err == nil {
		t.Error("Restore accepted an unknown format")
	}
}

// TestServer_Concurrency hammers one pipeline with updates and reads: every
// update lands exactly once and reads never see a torn declaration.
func TestServer_Concurrency(t *testing.T) {
	ctx := context.Background()
	tok := token.Generate(token.KindClassicPAT)
	e := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("Hot", tok.Reveal(), "false")}}}, codepipeline.Options{})
	const writers, updates = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*updates*2)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range updates {
				d := seedDecl("Hot", tok, func(d *types.PipelineDeclaration) {
					d.Stages[1].Actions[0].Configuration["ProjectName"] = fmt.Sprintf("p-%d-%d", w, i)
				})
				if _, err := e.client.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: d}); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			last := int32(0)
			for range updates {
				out, err := e.client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Hot")})
				if err != nil {
					errs <- err
					continue
				}
				if v := aws.ToInt32(out.Pipeline.Version); v < last {
					errs <- fmt.Errorf("version went back from %d to %d", last, v)
				} else {
					last = v
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, v, _ := e.srv.Pipeline("Hot"); v != 1+writers*updates {
		t.Errorf("version = %d, want %d", v, 1+writers*updates)
	}
}

// TestServer_Scale polls a thousand pipelines with one ticker and a bounded
// pool until every one of them has been fetched.
func TestServer_Scale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test skipped in -short")
	}
	tok := token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, tok)
	const n = 1000
	var w codepipeline.World
	for i := range n {
		w.Pipelines = append(w.Pipelines, codepipeline.PipelineSpec{JSON: seedJSON(fmt.Sprintf("scale-%04d", i), tok.Reveal(), "")})
	}
	e := start(t, w, codepipeline.Options{GitHubURL: ghURL, PollInterval: 50_000_000, FetchConcurrency: 16})
	waitFor(t, "every pipeline polled", func() bool {
		seen := map[string]bool{}
		for _, f := range e.srv.Fetches() {
			if !f.OK {
				t.Fatalf("failed fetch %+v", f)
			}
			seen[f.Pipeline] = true
		}
		return len(seen) == n
	})
	out, err := e.client.ListPipelines(context.Background(), &cp.ListPipelinesInput{MaxResults: aws.Int32(1000)})
	if err != nil || len(out.Pipelines) != n || out.NextToken != nil {
		t.Errorf("ListPipelines(1000) = %d pipelines, next %v, %v", len(out.Pipelines), out.NextToken, err)
	}
	_, err = e.client.CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: seedDecl("one-too-many", tok)})
	var le *types.LimitExceededException
	if !errors.As(err, &le) {
		t.Errorf("creating pipeline %d: %v, want LimitExceededException", n+1, err)
	}
}

func BenchmarkServer_GetUpdate(b *testing.B) {
	tok := token.Generate(token.KindClassicPAT)
	srv, err := codepipeline.New(codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("B", tok.Reveal(), "false")}}}, codepipeline.Options{PollInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	update := `{"pipeline":` + string(seedJSON("B", tok.Reveal(), "false")) + `}`
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			op, body := "GetPipeline", `{"name":"B"}`
			if i%10 == 0 {
				op, body = "UpdatePipeline", update
			}
			i++
			checkAnswer(b, srv, op, body)
		}
	})
}
