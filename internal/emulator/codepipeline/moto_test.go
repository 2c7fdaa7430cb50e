package codepipeline_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
	"github.com/rotor-ci/rotor/internal/emulator/motoserver"
)

// TestServer_DifferentialMoto sends the same requests to this emulator and to
// moto_server and compares what comes back: status, error __type and the
// keys of every response object. Known, deliberate differences:
//   - moto does not mask OAuthToken (values are not compared);
//   - moto writes timestamps as ISO strings, AWS and this emulator as epoch
//     seconds (values are not compared);
//   - this emulator fills in executionMode and pipelineType as AWS does;
//   - moto answers a taken name with InvalidStructureException, this
//     emulator with the model's PipelineNameInUseException.
func TestServer_DifferentialMoto(t *testing.T) {
	moto := motoserver.Start(t)
	role := motoserver.CreateRole(t, moto, "AWS-CodePipeline-Service", motoserver.TrustPolicy)
	if role != roleArn {
		t.Fatalf("moto role ARN %s, want %s (the fixtures use it)", role, roleArn)
	}
	e := start(t, codepipeline.World{}, codepipeline.Options{})
	tok := token.Generate(token.KindClassicPAT).Reveal()
	decl := string(seedJSON("Diff", tok, "false"))
	oneStage := string(seedJSON("OneStage", tok, "false"))
	oneStage = oneStage[:strings.Index(oneStage, `,
    {"name": "Build"`)] + "]}"
	arn := "arn:aws:codepipeline:us-east-1:123456789012:"

	extra := map[string]bool{"executionMode": true, "pipelineType": true}
	tests := []struct {
		name     string
		op, body string
		// wantType is the error both must answer; mineType overrides it for
		// this emulator where moto is known to differ.
		wantType, mineType string
	}{
		{name: "create", op: "CreatePipeline", body: `{"pipeline":` + decl + `,"tags":[{"key":"team","value":"ci"}]}`},
		{name: "get", op: "GetPipeline", body: `{"name":"Diff"}`},
		{name: "update", op: "UpdatePipeline", body: `{"pipeline":` + decl + `}`},
		{name: "list", op: "ListPipelines", body: `{}`},
		{name: "list tags", op: "ListTagsForResource", body: `{"resourceArn":"` + arn + `Diff"}`},
		{name: "tag", op: "TagResource", body: `{"resourceArn":"` + arn + `Diff","tags":[{"key":"owner","value":"rotor"}]}`},
		{name: "untag", op: "UntagResource", body: `{"resourceArn":"` + arn + `Diff","tagKeys":["team"]}`},
		{name: "system tag", op: "TagResource", body: `{"resourceArn":"` + arn + `Diff","tags":[{"key":"aws:x","value":"y"}]}`, wantType: "InvalidTagsException"},
		{name: "name taken", op: "CreatePipeline", body: `{"pipeline":` + decl + `}`, wantType: "InvalidStructureException", mineType: "PipelineNameInUseException"},
		{name: "one stage", op: "CreatePipeline", body: `{"pipeline":` + oneStage + `}`, wantType: "InvalidStructureException"},
		{name: "get missing", op: "GetPipeline", body: `{"name":"Missing"}`, wantType: "PipelineNotFoundException"},
		{name: "update missing", op: "UpdatePipeline", body: `{"pipeline":` + strings.Replace(decl, `"Diff"`, `"Missing"`, 1) + `}`, wantType: "ResourceNotFoundException", mineType: "ValidationException"},
		{name: "tags of missing", op: "ListTagsForResource", body: `{"resourceArn":"` + arn + `Missing"}`, wantType: "ResourceNotFoundException"},
		{name: "delete", op: "DeletePipeline", body: `{"name":"Diff"}`},
		{name: "delete missing", op: "DeletePipeline", body: `{"name":"Diff"}`},
		{name: "get deleted", op: "GetPipeline", body: `{"name":"Diff"}`, wantType: "PipelineNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "CodePipeline_20150709." + tt.op
			ms, mb := rawCall(t, moto, target, tt.body)
			es, eb := rawCall(t, e.url, target, tt.body)
			want := tt.wantType
			if got := typeOf(mb); got != want {
				t.Fatalf("moto answered %d %v, want %q: the fixture or moto changed", ms, mb, want)
			}
			if tt.mineType != "" {
				want = tt.mineType
			}
			if got := typeOf(eb); got != want {
				t.Fatalf("emulator answered %d %v, want %q", es, eb, want)
			}
			if (ms == 200) != (es == 200) {
				t.Fatalf("status: moto %d, emulator %d", ms, es)
			}
			if want != "" {
				return
			}
			if diff := cmp.Diff(shape(mb, extra, ""), shape(eb, extra, "")); diff != "" {
				t.Errorf("response shapes differ (-moto +emulator):\n%s", diff)
			}
		})
	}
}

func typeOf(body map[string]any) string {
	s, _ := body["__type"].(string)
	if i := strings.LastIndex(s, "#"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// shape lists the paths of every key in a JSON value (list members share the
// path of the list), leaving out keys in skip.
func shape(v any, skip map[string]bool, at string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if skip[k] {
				continue
			}
			p := at + "." + k
			out = append(out, p)
			out = append(out, shape(val, skip, p)...)
		}
	case []any:
		for _, val := range x {
			out = append(out, shape(val, skip, at+"[]")...)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
