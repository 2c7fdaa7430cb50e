package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

// devAccount declares rotor's role in the home account and in a dev
// account (111111111111), whose role rotor assumes with an external id.
const devAccount = `
aws:
  accounts:
    - id: "123456789012"
      roles:
        - name: rotor
          trust_policy:
            Statement:
              - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: "sts:AssumeRole"}
    - id: "111111111111"
      name: dev
      roles:
        - name: rotor
          trust_policy:
            Statement:
              - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: "sts:AssumeRole", Condition: {StringEquals: {"sts:ExternalId": rotor-ext}}}
`

// TestCLI_AccountsFleet: one codepipeline target over two accounts and
// regions (accounts:) is adopted and rotated in one run; the result says
// how each account × region fared, and both pipelines hold the new token.
func TestCLI_AccountsFleet(t *testing.T) {
	e := newTwoAccountE2E(t, "")
	fresh := e.newToken(emulator.SeedUser, "repo", "admin:repo_hook")
	code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin")
	if code != 0 {
		t.Fatalf("rotate: %d\n%s", code, out)
	}
	for _, want := range []string{`account\s+123456789012 us-east-1\s+1 verified\n`, `account\s+111111111111 eu-west-1\s+1 verified\n`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("rotate's output does not match %q:\n%s", want, out)
		}
	}
	if e.pipelineToken() != fresh.Fingerprint() {
		t.Error("MyFirstPipeline does not hold the new token")
	}
	var res struct {
		Accounts []status.AccountBindings `json:"accounts"`
	}
	if code, out := e.rotor(e.newToken(emulator.SeedUser, "repo", "admin:repo_hook").Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin", "-o", "json"); code != 0 || json.NewDecoder(strings.NewReader(out)).Decode(&res) != nil || len(res.Accounts) != 2 {
		t.Fatalf("rotate -o json: %d, accounts %+v\n%s", code, res.Accounts, out)
	}
	// rotor status says the same of the newest run, in its table and in
	// its JSON.
	code, out = e.rotor("", "status", "pipeline-token")
	if code != 0 {
		t.Fatalf("status: %d\n%s", code, out)
	}
	for _, want := range []string{`pipeline-token: bindings of run #\d+ by account × region\n`, `account\s+111111111111 eu-west-1\s+1 verified\n\s+account\s+123456789012 us-east-1\s+1 verified\n`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("status's output does not match %q:\n%s", want, out)
		}
	}
	var st []struct {
		Accounts []status.AccountBindings `json:"accounts"`
	}
	code, out = e.rotor("", "status", "pipeline-token", "-o", "json")
	if code != 0 || json.NewDecoder(strings.NewReader(out)).Decode(&st) != nil || len(st) != 1 {
		t.Fatalf("status -o json: %d\n%s", code, out)
	}
	want := []status.AccountBindings{
		{Account: "111111111111", Region: "eu-west-1", Bindings: map[string]int{"verified": 1}},
		{Account: "123456789012", Region: "us-east-1", Bindings: map[string]int{"verified": 1}},
	}
	if diff := cmp.Diff(want, st[0].Accounts); diff != "" {
		t.Errorf("status -o json: accounts (-want +got):\n%s\n%s", diff, out)
	}
	e.canary()
}

// TestProgressLine_perAccount: on a terminal, a fleet's progress prints a
// line for each account × region as it finishes (once per Apply or Verify,
// failed ones marked), and the running line counts the places done.
func TestProgressLine_perAccount(t *testing.T) {
	var out bytes.Buffer
	show := progressLine(&out, func() (string, string) { return "ok", "FAILED" })
	place := func(account string, done, total, failed int) rotation.PlaceProgress {
		return rotation.PlaceProgress{Account: account, Region: "us-east-1", Done: done, Total: total, Failed: failed}
	}
	step := func(a, b rotation.PlaceProgress) {
		show(rotation.Progress{Done: a.Done + b.Done, Total: a.Total + b.Total, Failed: a.Failed + b.Failed, Places: []rotation.PlaceProgress{a, b}})
	}
	for range 2 { // apply, then verify: each finishes once per call
		step(place("111111111111", 0, 2, 0), place("222222222222", 0, 3, 0))
		step(place("111111111111", 2, 2, 0), place("222222222222", 1, 3, 0))
		step(place("111111111111", 2, 2, 0), place("222222222222", 2, 3, 1))
		step(place("111111111111", 2, 2, 0), place("222222222222", 3, 3, 1))
	}
	got := out.String()
	for line, want := range map[string]int{
		"ok account 111111111111 us-east-1: 2 binding(s), 0 failed\n":     2,
		"FAILED account 222222222222 us-east-1: 3 binding(s), 1 failed\n": 2,
		"3/5 bindings, 0 failed; 1 of 2 accounts × regions done":          2,
		"5/5 bindings, 1 failed; 2 of 2 accounts × regions done\n":        2,
	} {
		if n := strings.Count(got, line); n != want {
			t.Errorf("%q printed %d times, want %d; output:\n%s", line, n, want, got)
		}
	}
}

// newTwoAccountE2E is an installation whose credential pipeline-token
// feeds, through one codepipeline target over two accounts (accounts:), the
// seed pipeline in 123456789012 us-east-1 and DevPipeline in 111111111111
// eu-west-1 (devAccount's roles); targetExtra (YAML lines at the target's
// indent) is added to the target. Its token is adopted.
func newTwoAccountE2E(t *testing.T, targetExtra string) *e2e {
	t.Helper()
	e := newE2EWorld(t, "0s", func(w *emulator.World) {
		parsed, err := emulator.ParseWorld("dev.yaml", []byte(devAccount))
		if err != nil {
			t.Fatal(err)
		}
		w.AWS = parsed.AWS
		dev := strings.ReplaceAll(string(emulator.GitHubPipeline("DevPipeline", emulator.SeedUser, emulator.SeedRepo, emulator.SeedBranch, emulator.SeedTokenNote)), "123456789012", "111111111111")
		r, err := emulator.ParseWorld("regions.yaml", []byte("codepipeline:\n  regions:\n    - account: \"111111111111\"\n      region: eu-west-1\n      pipelines: ["+dev+"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		w.CodePipeline.Regions = r.CodePipeline.Regions
	})
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "      - {type: codepipeline, pipelines: [MyFirstPipeline]}\n      - {type: file, path: ci/github-token}\n",
		"      - type: codepipeline\n        match: {owner: "+emulator.SeedUser+"}\n"+targetExtra+"        accounts:\n"+
			"          - {role_arn: \"arn:aws:iam::123456789012:role/rotor\", regions: [us-east-1]}\n"+
			"          - {role_arn: \"arn:aws:iam::111111111111:role/rotor\", external_id: rotor-ext, regions: [eu-west-1]}\n", 1)
	if cfg == string(b) {
		t.Fatal("the config has no codepipeline target to change")
	}
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor(e.tokens[0].Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d\n%s", code, out)
	}
	return e
}
