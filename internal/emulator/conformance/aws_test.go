package conformance_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
)

func botocore(t *testing.T) string {
	t.Helper()
	p := conformance.Locate()
	if p.Botocore == "" {
		t.Skip("SKIP: " + p.WhyNoBotocore)
	}
	return p.Botocore
}

// TestRoutes_CodePipeline: every operation the emulator serves is in AWS's
// model, so none escapes the check (present and future ones alike).
func TestRoutes_CodePipeline(t *testing.T) {
	md, err := conformance.LoadModel(botocore(t), "codepipeline")
	if err != nil {
		t.Fatal(err)
	}
	ops := codepipeline.Operations()
	if len(ops) < 12 {
		t.Fatalf("the emulator lists only %d operations: %v", len(ops), ops)
	}
	for _, op := range ops {
		if !md.HasOperation(op) {
			t.Errorf("the emulator serves %s, which botocore's CodePipeline model (%s) does not describe", op, md.Version)
		}
	}
	t.Logf("%d operations, model %s", len(ops), md.Version)
}

// exchange runs one request through the check in front of a handler that
// answers status and body, and returns the violations.
func exchange(t *testing.T, opts []conformance.Option, target, reqBody string, status int, respBody string) []conformance.Violation {
	t.Helper()
	var got []conformance.Violation
	c := conformance.New(func(v conformance.Violation) { got = append(got, v) }, opts...)
	h := c.AWS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, respBody)
	}))
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(reqBody))
	req.Header.Set("X-Amz-Target", target)
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func TestCheck_AWS(t *testing.T) {
	botocore(t)
	const get = "CodePipeline_20150709.GetPipeline"
	const state = `{"pipelineName":"P","pipelineVersion":1,"stageStates":[],"created":1700000000,"updated":1700000000}`
	strict, lenient := []conformance.Option(nil), []conformance.Option{conformance.AllowInvalidRequests()}
	for _, tt := range []struct {
		name             string
		opts             []conformance.Option
		target, req      string
		status           int
		resp             string
		wantPath, wantIn string // "" wantIn: no violation
	}{
		{"valid exchange", strict, "CodePipeline_20150709.GetPipelineState", `{"name":"P"}`, 200, state, "", ""},
		{"unknown operation", strict, "CodePipeline_20150709.Bogus", `{}`, 400, `{"__type":"UnknownOperationException","message":"x"}`, "", "no operation Bogus"},
		{"unknown operation refused, lenient", lenient, "CodePipeline_20150709.Bogus", `{}`, 400, `{"__type":"UnknownOperationException","message":"x"}`, "", ""},
		{"unknown operation accepted", lenient, "CodePipeline_20150709.Bogus", `{}`, 200, `{}`, "", "accepted a request AWS refuses"},
		{"missing required member", strict, get, `{}`, 400, `{"__type":"ValidationException","message":"x"}`, "name", "required member is missing"},
		{"missing required member accepted", lenient, get, `{}`, 200, `{}`, "", "accepted input AWS refuses"},
		{"pattern", strict, get, `{"name":"bad name!"}`, 400, `{"__type":"ValidationException","message":"x"}`, "name", "pattern"},
		{"length", strict, get, `{"name":"` + strings.Repeat("a", 101) + `"}`, 400, `{"__type":"ValidationException","message":"x"}`, "name", "above the maximum 100"},
		{"range", strict, get, `{"name":"P","version":0}`, 400, `{"__type":"ValidationException","message":"x"}`, "version", "below the minimum 1"},
		{"type", strict, get, `{"name":7}`, 400, `{"__type":"SerializationException","message":"x"}`, "name", "want a string"},
		{"output enum", strict, "CodePipeline_20150709.GetPipelineExecution", `{"pipelineName":"P","pipelineExecutionId":"00000000-0000-0000-0000-000000000000"}`, 200,
			`{"pipelineExecution":{"status":"Running"}}`, "pipelineExecution.status", "not one of"},
		{"output timestamp as text", strict, "CodePipeline_20150709.GetPipelineState", `{"name":"P"}`, 200,
			strings.Replace(state, `"created":1700000000`, `"created":"2024-01-01T00:00:00Z"`, 1), "created", "epoch seconds"},
		{"output member the model lacks", strict, "CodePipeline_20150709.GetPipelineState", `{"name":"P"}`, 200,
			strings.Replace(state, `{`, `{"extra":1,`, 1), "extra", "no such member"},
		{"undeclared error", strict, "CodePipeline_20150709.UpdatePipeline", `{}`, 400, `{"__type":"ResourceNotFoundException","message":"x"}`, "__type", "neither declared by UpdatePipeline"},
		{"declared error", lenient, "CodePipeline_20150709.UpdatePipeline", `{}`, 400, `{"__type":"ValidationException","message":"x"}`, "", ""},
		{"common error", strict, get, `{"name":"P"}`, 400, `{"__type":"ThrottlingException","message":"Rate exceeded"}`, "", ""},
		{"client error as 500", strict, get, `{"name":"P"}`, 500, `{"__type":"PipelineNotFoundException","message":"x"}`, "", "client error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantViolation(t, exchange(t, tt.opts, tt.target, tt.req, tt.status, tt.resp), tt.wantPath, tt.wantIn)
		})
	}
}

// wantViolation fails t unless got has a violation at wantPath (any, if
// "") saying wantIn, or, when wantIn is "", unless got is empty.
func wantViolation(t *testing.T, got []conformance.Violation, wantPath, wantIn string) {
	t.Helper()
	if wantIn == "" {
		if len(got) > 0 {
			t.Fatalf("violations %v, want none", got)
		}
		return
	}
	for _, v := range got {
		if strings.Contains(v.Error(), wantIn) && (wantPath == "" || v.Path == wantPath) {
			return
		}
	}
	t.Fatalf("violations %v, want one at %q saying %q", got, wantPath, wantIn)
}
