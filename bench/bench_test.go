package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/rotorbin"
)

// TestBench_Correctness runs the benchmark small (100 pipelines, no
// throttle, one run) through the real rotor binary, as CI's test of its
// correctness, not of its timing: every pipeline ends on the new token with
// nothing else changed (I4), with the AWS CLI procedure too, and rotor makes
// exactly one GetPipeline and one UpdatePipeline per pipeline (discovery
// reads none again: adopt's inventory knows them).
func TestBench_Correctness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rotor and rotates 100 pipelines; skipped with -short")
	}
	var rs []result
	stdout := runBench(t, &rs, "-n", "100", "-rates", "0", "-runs", "1", "-cold-runs", "0",
		"-cli-rate", "0", "-cli-max", "0", "-cli-sample", "2")
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1", len(rs))
	}
	r := rs[0]
	if d := cmp.Diff(checked{Pipelines: 100}, r.RotorCheck); d != "" {
		t.Errorf("after rotor rotate (-want +got):\n%s", d)
	}
	got := map[string]int64{}
	for op, c := range r.Rotor.Counts {
		got[strings.TrimPrefix(op, "codepipeline ")] = c.Requests
		if c.Throttled+c.ServerErrors+c.Failed > 0 {
			t.Errorf("%s: %+v, want no throttle or error", op, c)
		}
	}
	// The GitHub emulator's calls (the token check) are counted too.
	for op := range got {
		if strings.HasPrefix(op, "github ") {
			delete(got, op)
		}
	}
	// One idle check (ListPipelineExecutions) per pipeline, right before its update.
	want := map[string]int64{"ListPipelines": 1, "ListTagsForResource": 100, "GetPipeline": 100, "ListPipelineExecutions": 100, "UpdatePipeline": 100}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rotor rotate's CodePipeline requests (-want +got):\n%s", d)
	}
	if r.Rotor.MaxRSS <= 0 {
		t.Errorf("peak RSS not measured: %d", r.Rotor.MaxRSS)
	}
	for _, want := range []string{"| N=100 unthrottled L=20ms |", "MET  N=100 unthrottled L=20ms: every pipeline on the new token"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	if _, err := exec.LookPath("aws"); err != nil {
		t.Log("SKIP (part): aws CLI not on PATH: the scripted seed procedure was not run")
		return
	}
	if r.CLI == nil || r.CLI.Pipelines != 2 {
		t.Fatalf("AWS CLI procedure: %+v, want 2 pipelines", r.CLI)
	}
	if d := cmp.Diff(checked{Pipelines: 2}, r.CLICheck); d != "" {
		t.Errorf("after the AWS CLI procedure (-want +got):\n%s", d)
	}
}

// TestBench_InFlightCorrectness runs the in-flight scenario small (30
// pipelines, a third deploying for 1–3 s, new executions starting): rotor
// must stop no execution outside the race, move every binding, and revoke
// the old token after the last one moved. A test of correctness, not of
// timing.
func TestBench_InFlightCorrectness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rotor and rotates 30 pipelines while they deploy; skipped with -short")
	}
	var rs []inflightResult
	stdout := runBench(t, &rs, "-inflight", "-n", "30", "-rates", "20", "-runs", "1", "-busy", "0.33",
		"-exec-min", "1s", "-exec-max", "3s", "-starts", "2", "-inflight-cli", "0")
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1", len(rs))
	}
	r := rs[0]
	if r.BusyAtStart == 0 || r.Stopped != r.Raced || r.NotOnNew != 0 || !r.RevokedAfter || r.Exit != 0 || r.Updates < 30 || len(r.Windows) != r.Updates {
		t.Errorf("result %+v: want busy pipelines at the start, none stopped outside the race, every binding moved, the old token revoked, exit 0, every update preceded by a look", r)
	}
	if !strings.Contains(stdout, "MET  N=30 R=20/s L=20ms: executions stopped by rotor outside the race: 0") {
		t.Errorf("the report lacks the target line:\n%s", stdout)
	}
}

// runBench builds rotor, runs the benchmark with args (and -json), decodes
// its measurements into results and returns what it printed.
func runBench(t *testing.T, results any, args ...string) string {
	t.Helper()
	bin, err := rotorbin.Build(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "results.json")
	args = append([]string{"-rotor", bin, "-json", file}, args...)
	var stdout, stderr bytes.Buffer
	if err := run(emulator.WithCheck(context.Background(), conformance.For(t)), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	t.Logf("%s\n%s", stderr.String(), stdout.String())
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, results); err != nil {
		t.Fatal(err)
	}
	return stdout.String()
}
