package codepipeline_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

func TestServer_Protocol(t *testing.T) {
	e := start(t, codepipeline.World{}, codepipeline.Options{})
	const get = "CodePipeline_20150709.GetPipeline"
	tests := []struct {
		name       string
		target     string
		body       string
		noAuth     bool
		wantStatus int
		wantType   string
	}{
		{"missing target", "", `{}`, false, 400, "UnknownOperationException"},
		{"garbled target", "Garbage", `{}`, false, 400, "UnknownOperationException"},
		{"unknown operation", "CodePipeline_20150709.PollForJobs", `{}`, false, 400, "UnknownOperationException"},
		{"other service's target", "DynamoDB_20120810.GetItem", `{}`, false, 400, "UnknownOperationException"},
		{"no authorization", get, `{"name":"x"}`, true, 400, "MissingAuthenticationTokenException"},
		{"malformed json", get, `{"name":`, false, 400, "SerializationException"},
		{"wrong type", get, `{"name": 5}`, false, 400, "SerializationException"},
		{"list at top", get, `[]`, false, 400, "SerializationException"},
		{"trailing garbage", get, `{"name":"x"} {}`, false, 400, "SerializationException"},
		{"empty body is {}", "CodePipeline_20150709.ListPipelines", ``, false, 200, ""},
		{"missing required name", get, `{}`, false, 400, "ValidationException"},
		{"unknown fields are ignored", "CodePipeline_20150709.ListPipelines", `{"bogus": 1}`, false, 200, ""},
		{"too large", "CodePipeline_20150709.CreatePipeline", `{"pipeline":{"name":"` + strings.Repeat("a", 2<<20) + `"}}`, false, 413, "RequestEntityTooLargeException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(tt.body))
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if !tt.noAuth {
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (%v)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantType != "" {
				if body["__type"] != tt.wantType || resp.Header.Get("X-Amzn-ErrorType") != tt.wantType {
					t.Errorf("__type = %v (header %q), want %s", body["__type"], resp.Header.Get("X-Amzn-ErrorType"), tt.wantType)
				}
				if msg, _ := body["message"].(string); msg == "" {
					t.Errorf("no message in %v", body)
				}
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestServer_Admin(t *testing.T) {
	good := token.Generate(token.KindClassicPAT)
	_, ghURL := newFakeGitHub(t, good)
	e := start(t, codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: seedJSON("P", good.Reveal(), "")}}},
		codepipeline.Options{GitHubURL: ghURL, PollInterval: 20_000_000})
	waitFor(t, "a poll", func() bool { return len(e.srv.Fetches()) > 0 })

	do := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	code, b := do("GET", "/_emulator/fetches?pipeline=P", "")
	var fetches struct {
		Total   int64
		Fetches []codepipeline.Fetch
	}
	if err := json.Unmarshal(b, &fetches); code != 200 || err != nil || len(fetches.Fetches) == 0 || fetches.Total == 0 {
		t.Fatalf("GET fetches = %d %s", code, b)
	}
	if bytes.Contains(b, []byte(good.Reveal())) {
		t.Fatal("fetch record reveals the token")
	}
	if f := fetches.Fetches[0]; !f.OK || f.TokenFingerprint != good.Fingerprint() {
		t.Errorf("fetch = %+v", f)
	}

	code, b = do("GET", "/_emulator/pipelines/P/token-fingerprints", "")
	var fps struct {
		Version int
		Actions map[string]string
	}
	if err := json.Unmarshal(b, &fps); code != 200 || err != nil || fps.Actions["Source"] != good.Fingerprint() || fps.Version != 1 {
		t.Errorf("token-fingerprints = %d %s", code, b)
	}
	if code, _ := do("GET", "/_emulator/pipelines/Nope/token-fingerprints", ""); code != 404 {
		t.Errorf("missing pipeline fingerprints = %d, want 404", code)
	}

	if code, b := do("PUT", "/_emulator/faults/rules", `[{"operation":"GetPipeline","fail":true}]`); code != 200 {
		t.Fatalf("PUT rules = %d %s", code, b)
	}
	if status, body := rawCall(t, e.url, "CodePipeline_20150709.GetPipeline", `{"name":"P"}`); status != 400 || body["__type"] != "ValidationException" {
		t.Errorf("GetPipeline under a fail rule = %d %v", status, body)
	}
	if code, b := do("GET", "/_emulator/faults/counts", ""); code != 200 || !bytes.Contains(b, []byte(`"GetPipeline"`)) {
		t.Errorf("GET counts = %d %s", code, b)
	}

	if code, _ := do("DELETE", "/_emulator/fetches", ""); code != 204 {
		t.Errorf("DELETE fetches = %d", code)
	}
	if code, _ := do("GET", "/_emulator/nothing", ""); code != 404 {
		t.Errorf("unknown admin path = %d, want 404", code)
	}
}

// FuzzServer sends arbitrary targets and bodies: the emulator must answer
// every one with a well-formed AWS JSON response and never a 500 (a 500
// without an injected fault is a recovered panic).
func FuzzServer(f *testing.F) {
	tok := token.Generate(token.KindClassicPAT).Reveal()
	valid := `{"pipeline":` + string(seedJSON("F", tok, "false")) + `}`
	for _, seed := range []struct{ op, body string }{
		{"CreatePipeline", valid},
		{"UpdatePipeline", valid},
		{"GetPipeline", `{"name":"F","version":1}`},
		{"ListPipelines", `{"maxResults":0,"nextToken":"zz"}`},
		{"ListPipelineExecutions", `{"pipelineName":"F","nextToken":"x"}`},
		{"GetPipelineExecution", `{"pipelineName":"F","pipelineExecutionId":"nope"}`},
		{"StartPipelineExecution", `{"name":"F","clientRequestToken":"a"}`},
		{"TagResource", `{"resourceArn":"arn:aws:codepipeline:us-east-1:123456789012:F","tags":[{"key":"aws:x","value":""}]}`},
		{"UntagResource", `{"resourceArn":"arn:aws:codepipeline:a:1:F","tagKeys":null}`},
		{"ListTagsForResource", `{"resourceArn":"::::::","nextToken":"-1"}`},
		{"GetPipelineState", `{"name":null}`},
		{"DeletePipeline", `{"name":"F"}`},
		{"Bogus", `\x00`},
	} {
		f.Add(seed.op, seed.body)
	}
	srv, err := codepipeline.New(codepipeline.World{}, codepipeline.Options{PollInterval: -1, ActionDelay: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	f.Fuzz(func(t *testing.T, op, body string) {
		checkAnswer(t, srv, op, body)
	})
}

// TestServer_RandomBodies mutates valid requests at random, so that the
// robustness check runs in every plain `go test`, not only under -fuzz.
func TestServer_RandomBodies(t *testing.T) {
	srv, err := codepipeline.New(codepipeline.World{}, codepipeline.Options{PollInterval: -1, ActionDelay: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	tok := token.Generate(token.KindClassicPAT).Reveal()
	valid := []byte(`{"pipeline":` + string(seedJSON("R", tok, "false")) + `}`)
	ops := []string{"CreatePipeline", "UpdatePipeline", "GetPipeline", "ListPipelines", "GetPipelineState", "StartPipelineExecution", "TagResource"}
	rng := rand.New(rand.NewPCG(1, 2))
	junk := []byte(`{}[]":,0123456789.-eE truefalsenull\\u"`)
	for i := range 3000 {
		b := append([]byte(nil), valid...)
		for range 1 + rng.IntN(4) {
			switch pos := rng.IntN(len(b)); rng.IntN(3) {
			case 0:
				b[pos] = junk[rng.IntN(len(junk))]
			case 1:
				b = append(b[:pos], b[min(pos+1+rng.IntN(20), len(b)):]...)
			default:
				b = append(b[:pos], append([]byte{junk[rng.IntN(len(junk))]}, b[pos:]...)...)
			}
			if len(b) == 0 {
				b = []byte("{")
			}
		}
		checkAnswer(t, srv, ops[i%len(ops)], string(b))
	}
}

func checkAnswer(t testing.TB, srv *codepipeline.Server, op, body string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "CodePipeline_20150709."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	rec := httptest.NewRecorder()
	conformance.Wrap(t, "codepipeline", srv, conformance.AllowInvalidRequests()).ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %q: status %d %s", op, body, rec.Code, rec.Body)
	}
	if rec.Code != 200 || rec.Body.Len() > 0 {
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %q: body is not a JSON object: %v %s", op, body, err, rec.Body)
		}
		if rec.Code >= 400 && out["__type"] == nil {
			t.Fatalf("%s %q: error without __type: %s", op, body, rec.Body)
		}
	}
}
