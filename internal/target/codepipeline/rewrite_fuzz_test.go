package codepipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/token"
)

// declFrom builds a declaration from fuzz bytes: up to three stages of up
// to three actions, each a GitHub v1 source or something close to one (v2,
// another provider, another category, no type at all), with configuration
// keys and values drawn from the bytes (OAuthToken on actions that are no
// GitHub v1 source, nil maps, empty values), and a plan over the actions
// (and over names that exist nowhere).
func declFrom(data []byte, value string) (*types.PipelineDeclaration, map[string]string) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	words := []string{"Source", "Build", "GitHub", "OAuthToken", "Owner", "Repo", "Branch", "PollForSourceChanges", "****", "", "a/b", "Source/Source", "1", "2"}
	word := func() string { return words[int(next())%len(words)] }
	d := &types.PipelineDeclaration{Name: aws.String("p"), RoleArn: aws.String("arn:aws:iam::123456789012:role/r"), Version: aws.Int32(int32(next()))}
	plan := map[string]string{}
	for s := range 1 + int(next())%3 {
		st := types.StageDeclaration{Name: aws.String(fmt.Sprintf("S%d%s", s, word()))}
		if next()%5 == 0 {
			st.Name = aws.String("Source") // stages of one name: keys collide
		}
		for a := range 1 + int(next())%3 {
			act := types.ActionDeclaration{Name: aws.String(fmt.Sprintf("A%d", a))}
			switch next() % 6 {
			case 0, 1:
				act.ActionTypeId = &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerThirdParty, Provider: aws.String("GitHub"), Version: aws.String("1")}
			case 2:
				act.ActionTypeId = &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerThirdParty, Provider: aws.String("GitHub"), Version: aws.String("2")}
			case 3:
				act.ActionTypeId = &types.ActionTypeId{Category: types.ActionCategoryBuild, Owner: types.ActionOwnerAws, Provider: aws.String("CodeBuild"), Version: aws.String("1")}
			case 4:
				act.ActionTypeId = &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerAws, Provider: aws.String("GitHub"), Version: aws.String("1")}
			}
			if n := int(next()) % 5; n > 0 {
				act.Configuration = map[string]string{}
				for range n {
					act.Configuration[word()] = word()
				}
			}
			act.RunOrder = aws.Int32(int32(next() % 3))
			if next()%2 == 0 {
				act.OutputArtifacts = []types.OutputArtifact{{Name: aws.String(word())}}
			}
			if next()%3 == 0 {
				plan[*st.Name+"/"+*act.Name] = value
			}
			st.Actions = append(st.Actions, act)
		}
		d.Stages = append(d.Stages, st)
	}
	if next()%4 == 0 {
		plan["Nowhere/"+word()] = value
	}
	return d, plan
}

// FuzzSetTokens: the rewrite gives each planned GitHub v1 source action its
// token and changes nothing else, in the declaration or in the maps it was
// handed (the SDK's response, which other code may still read).
func FuzzSetTokens(f *testing.F) {
	f.Add([]byte{}, "ghp_x")
	f.Add([]byte{2, 0, 0, 2, 0, 3, 3, 1, 0, 1, 3, 4, 3, 3, 0, 0, 9, 1, 1, 0, 0, 0, 0}, token.Generate(token.KindClassicPAT).Reveal())
	f.Add([]byte{1, 5, 0, 1, 0, 4, 0, 3, 2, 9, 0, 1, 0, 1, 0, 0, 3, 1, 2}, "****")
	f.Add(bytes.Repeat([]byte{0}, 64), "")
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		d, plan := declFrom(data, value)
		before := deepCopy(t, d)
		// Keep the maps the declaration was handed, to see them unchanged.
		var handed []map[string]string
		var handedCopies []map[string]string
		for _, st := range d.Stages {
			for _, a := range st.Actions {
				handed = append(handed, a.Configuration)
				handedCopies = append(handedCopies, cloneMap(a.Configuration))
			}
		}

		setTokens(d, plan)

		want := deepCopy(t, before)
		for i := range want.Stages {
			st := &want.Stages[i]
			for j := range st.Actions {
				a := &st.Actions[j]
				v, ok := plan[*st.Name+"/"+*a.Name]
				if !ok || !isGitHubV1(a.ActionTypeId) {
					continue
				}
				if a.Configuration == nil {
					a.Configuration = map[string]string{}
				}
				a.Configuration[propToken] = v
			}
		}
		if got, exp := mustJSON(t, d), mustJSON(t, want); !bytes.Equal(got, exp) {
			t.Fatalf("the rewrite changed more than the planned tokens:\n got %s\nwant %s", got, exp)
		}
		for i, m := range handed {
			if !reflect.DeepEqual(m, handedCopies[i]) {
				t.Fatalf("the rewrite changed a configuration map it was handed: %v, was %v", m, handedCopies[i])
			}
		}
	})
}

// FuzzRewrite_Wire runs the whole rewrite as Apply does, through the SDK:
// a GetPipeline answer (any JSON the fuzzer makes) is decoded, given its
// tokens and encoded as the UpdatePipeline request, and the guard decides.
// Whatever the guard lets through must, by an independent comparison,
// differ from what GetPipeline showed only in the OAuthToken of planned
// GitHub v1 source actions (and the version, which the service sets).
func FuzzRewrite_Wire(f *testing.F) {
	f.Add(`{"name":"p","roleArn":"r","version":3,"stages":[{"name":"Source","actions":[{"name":"Source","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"Owner":"o","Repo":"r","Branch":"main","OAuthToken":"****"},"outputArtifacts":[{"name":"out"}]}]},{"name":"Build","actions":[{"name":"B","actionTypeId":{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"},"configuration":{"ProjectName":"x"},"inputArtifacts":[{"name":"out"}]}]}]}`, "Source/Source")
	f.Add(`{"name":"p","roleArn":"r","stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"OAuthToken":"****"},"futureMember":{"x":1}}]}],"variables":[{"name":"v","defaultValue":"d"}],"triggers":[]}`, "S/A")
	f.Add(`{"name":"p","roleArn":"r","stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"OAuthToken":"****"}},{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"OAuthToken":"****","Branch":"dev"}}]}]}`, "S/A")
	f.Add(`{"name":"p","roleArn":"r","executionMode":"QUEUED","pipelineType":"V2","stages":[{"name":"S","onFailure":{"result":"ROLLBACK"},"actions":[{"name":"A","runOrder":1,"region":"eu-west-1","namespace":"ns","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"OAuthToken":"****"}}]}]}`, "S/A,S/B")
	tok := token.Generate(token.KindClassicPAT)
	f.Fuzz(func(t *testing.T, getJSON, planned string) {
		var probe map[string]any
		if json.Unmarshal([]byte(getJSON), &probe) != nil {
			return
		}
		getBody := []byte(`{"pipeline":` + getJSON + `}`)
		var sent []byte
		client := codepipeline.New(codepipeline.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1,
			HTTPClient: fakeHTTP(func(r *http.Request) (int, []byte) {
				if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetPipeline") {
					return 200, getBody
				}
				sent, _ = io.ReadAll(r.Body)
				return 200, []byte(`{"pipeline":{}}`)
			})})
		ctx := context.Background()
		var get exchange
		out, err := client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("p")}, get.option)
		if err != nil || out.Pipeline == nil {
			return // the SDK refuses it: nothing would be sent
		}
		before, err := decodeMember(get.raw(), "pipeline")
		if err != nil {
			return
		}
		plan := map[string]token.Token{}
		values := map[string]string{}
		for _, k := range strings.Split(planned, ",") {
			plan[k], values[k] = tok, tok.Reveal()
		}
		setTokens(out.Pipeline, values)
		upd := exchange{check: func(body []byte) error { return guard(body, comparable(before), plan, rawTokens(before)) }}
		_, err = client.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: out.Pipeline}, upd.option)
		if err != nil {
			if r := (*refusal)(nil); errors.As(err, &r) {
				return // the guard refused: nothing was sent
			}
			return // the SDK could not encode it: nothing was sent
		}
		if sent == nil {
			t.Fatal("UpdatePipeline succeeded without a request")
		}
		var gotTop, wantTop map[string]any
		if err := json.Unmarshal(sent, &gotTop); err != nil {
			t.Fatalf("request body is not JSON: %v", err)
		}
		_ = json.Unmarshal(getBody, &wantTop)
		got, want := oracleNormal(gotTop["pipeline"], tok.Reveal(), plan, true), oracleNormal(wantTop["pipeline"], tok.Reveal(), plan, false)
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Fatalf("the guard let through a request that differs from GetPipeline's answer beyond the planned tokens:\nsent %s\n got %s", g, w)
		}
	})
}

// oracleNormal is the test's own idea of "the same declaration": the
// version left out, null and empty members dropped, and each GitHub v1
// source action's OAuthToken replaced by a mark saying whether it was the
// planned token (request) or masked (GetPipeline). Written apart from
// comparable() on purpose.
func oracleNormal(v any, tok string, plan map[string]token.Token, request bool) any {
	var walk func(v any, stage string, inActions bool) any
	walk = func(v any, stage string, inActions bool) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			name, _ := x["name"].(string)
			for k, e := range x {
				if k == "version" && stage == "" && !inActions {
					continue
				}
				ns := stage
				if k == "actions" {
					ns = name
				}
				w := walk(e, ns, k == "actions")
				if isEmpty(w) {
					continue
				}
				out[k] = w
			}
			if inActions {
				t, _ := x["actionTypeId"].(map[string]any)
				gh := t["category"] == "Source" && t["owner"] == "ThirdParty" && t["provider"] == "GitHub" && t["version"] == "1"
				if cfg, ok := out["configuration"].(map[string]any); ok && gh {
					if v, ok := cfg["OAuthToken"]; ok {
						_, planned := plan[stage+"/"+name]
						switch {
						case request && planned && v == tok, !request && planned && v == "****":
							cfg["OAuthToken"] = "<planned>"
						}
					}
				}
			}
			return out
		case []any:
			out := make([]any, 0, len(x))
			for _, e := range x {
				out = append(out, walk(e, stage, inActions))
			}
			return out
		}
		return v
	}
	return walk(v, "", false)
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

type fakeHTTP func(r *http.Request) (int, []byte)

func (f fakeHTTP) Do(r *http.Request) (*http.Response, error) {
	code, body := f(r)
	return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

func deepCopy(t *testing.T, d *types.PipelineDeclaration) *types.PipelineDeclaration {
	t.Helper()
	var out types.PipelineDeclaration
	if err := json.Unmarshal(mustJSON(t, d), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// The oracle must tell a token change from any other.
func TestOracleNormal(t *testing.T) {
	tok := token.Generate(token.KindClassicPAT)
	plan := map[string]token.Token{"S/A": tok}
	get := `{"name":"p","version":2,"stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"Branch":"main","OAuthToken":"****"}}]}]}`
	for _, tc := range []struct {
		name, req string
		same      bool
	}{
		{"the planned token", `{"name":"p","stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"Branch":"main","OAuthToken":"` + tok.Reveal() + `"}}]}]}`, true},
		{"another branch", `{"name":"p","stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"Branch":"dev","OAuthToken":"` + tok.Reveal() + `"}}]}]}`, false},
		{"another token", `{"name":"p","stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"Branch":"main","OAuthToken":"x"}}]}]}`, false},
		{"masked sent back", `{"name":"p","stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"Branch":"main","OAuthToken":"****"}}]}]}`, false},
		{"an empty member added", `{"name":"p","triggers":[],"stages":[{"name":"S","actions":[{"name":"A","actionTypeId":{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"},"configuration":{"Branch":"main","OAuthToken":"` + tok.Reveal() + `"}}]}]}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g, r any
			_ = json.Unmarshal([]byte(get), &g)
			_ = json.Unmarshal([]byte(tc.req), &r)
			same := reflect.DeepEqual(oracleNormal(r, tok.Reveal(), plan, true), oracleNormal(g, tok.Reveal(), plan, false))
			if same != tc.same {
				t.Errorf("same = %v, want %v", same, tc.same)
			}
		})
	}
}
