package codepipeline_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// FuzzServer_Request fuzzes the whole request an SDK sends, not only the
// body: method, path, target, content type, authorization and body, against
// an emulator that holds a pipeline (so that updates and reads reach the
// declaration decoder, not just "not found"). Every answer outside the
// admin API must be AWS JSON 1.1: never a 5xx (no fault is injected, so a
// 5xx is a recovered panic), a JSON object body, and for an error a
// "__type" and a "message" that agree with the X-Amzn-Errortype header.
func FuzzServer_Request(f *testing.F) {
	tok := token.Generate(token.KindClassicPAT).Reveal()
	decl := string(seedJSON("Fz", tok, "false"))
	for _, s := range []struct{ method, path, target, ctype, auth, body string }{
		{"POST", "/", "CodePipeline_20150709.UpdatePipeline", "application/x-amz-json-1.1", "AWS4-HMAC-SHA256 Credential=x", `{"pipeline":` + decl + `}`},
		{"POST", "/", "CodePipeline_20150709.UpdatePipeline", "application/x-amz-json-1.1", "x", `{"pipeline":` + strings.Replace(decl, `"Source"`, `"Source\u0000"`, 1) + `}`},
		{"POST", "/", "CodePipeline_20150709.GetPipeline", "application/x-amz-json-1.1", "x", `{"name":"Fz","version":1}`},
		{"POST", "/", "CodePipeline_20150709.GetPipeline", "", "x", `{"name":"Fz","version":1e400}`},
		{"POST", "/", "CodePipeline_20150709.ListPipelines", "application/json", "x", `{"maxResults":-1}`},
		{"POST", "/", "CodePipeline_20150709.CreatePipeline", "application/x-amz-json-1.1", "x", `{"pipeline":{"name":"Fz","stages":[{"actions":[{}]}]}}`},
		{"POST", "/", "CodePipeline_20150709.StartPipelineExecution", "application/x-amz-json-1.1", "x", `{"name":"Fz","variables":[{"name":1}]}`},
		{"POST", "/", "CodePipeline_20150709.GetPipelineState", "application/x-amz-json-1.1", "", `{"name":"Fz"}`},
		{"GET", "/", "CodePipeline_20150709.GetPipeline", "", "x", ``},
		{"POST", "/x", "CodePipeline_20150709.GetPipeline", "", "x", `{}`},
		{"POST", "/", "codepipeline_20150709.getpipeline", "", "x", `[]`},
		{"POST", "/", "CodePipeline_20150709.", "", "x", `"`},
	} {
		f.Add(s.method, s.path, s.target, s.ctype, s.auth, s.body)
	}
	srv, err := codepipeline.New(codepipeline.World{Pipelines: []codepipeline.PipelineSpec{{JSON: json.RawMessage(decl)}}},
		codepipeline.Options{PollInterval: -1, ActionDelay: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	f.Fuzz(func(t *testing.T, method, path, target, ctype, auth, body string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, codepipeline.AdminPrefix) || strings.ContainsAny(path, " \t\r\n#?") {
			return // not a request an HTTP client can send, or the admin API
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return
		}
		req := httptest.NewRequest(method, "http://codepipeline.test"+path, strings.NewReader(body))
		for k, v := range map[string]string{"X-Amz-Target": target, "Content-Type": ctype, "Authorization": auth} {
			if v != "" && validHeader(v) {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		conformance.Wrap(t, "codepipeline", srv, conformance.AllowInvalidRequests()).ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %s %q: status %d %s", method, path, target, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && rec.Body.Len() == 0 {
			return // an operation without output (DeletePipeline)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %q: status %d, body is not a JSON object: %v: %q", target, body, rec.Code, err, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Errorf("%s %q: Content-Type %q", target, body, ct)
		}
		if rec.Code < 400 {
			return
		}
		typ, _ := out["__type"].(string)
		msg, hasMsg := out["message"].(string)
		if typ == "" || !hasMsg || msg == "" {
			t.Fatalf("%s %q: error %d without __type and message: %s", target, body, rec.Code, rec.Body)
		}
		if h := rec.Header().Get("X-Amzn-Errortype"); h != typ {
			t.Errorf("%s %q: X-Amzn-Errortype %q, __type %q", target, body, h, typ)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}

func validHeader(v string) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// The fuzzer found an unclean path answered by the mux's redirect, with no
// body: the API answers every path but its own with its JSON error.
func TestServer_UncleanPath(t *testing.T) {
	srv, err := codepipeline.New(codepipeline.World{}, codepipeline.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, path := range []string{"/.", "//", "/a/../", "/_emulator"} {
		t.Run(path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://codepipeline.test"+path, strings.NewReader(`{}`))
			req.Header.Set("X-Amz-Target", "CodePipeline_20150709.ListPipelines")
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			var out struct {
				Type string `json:"__type"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); rec.Code != http.StatusNotFound || err != nil || out.Type != "UnknownOperationException" {
				t.Errorf("POST %s: %d %q, want 404 UnknownOperationException", path, rec.Code, rec.Body)
			}
		})
	}
}
