package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// fleetAccounts: rotor's role in the home account (123456789012, where
// the seed pipeline is, in us-east-1) and in dev (111111111111, with a
// pipeline of the same repository in eu-west-1).
const fleetAccounts = `
aws:
  accounts:
    - id: "123456789012"
      roles: [{name: rotor, trust_policy: {Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: "sts:AssumeRole"}]}}]
    - id: "111111111111"
      name: dev
      roles: [{name: rotor, trust_policy: {Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: "sts:AssumeRole"}]}}]
`

const fleetConfig = `store: sqlite:rotor.db
key: file:rotor.key
github: {api_url: %s}
aws: {region: us-east-1, endpoint_url: %s}
server: {listen: "127.0.0.1:0", auth_token_file: api.token, watch_every: 1h}
credentials:
  - name: fleet
    application: MyFirstPipeline
    source:
      type: github-app
      app_id: %d
      installation_id: %d
      private_key_file: app.pem
      repositories: [%s]
      permissions: {contents: read, metadata: read}
    rotate: {every: 50m, grace: 0s}
    targets:
      - type: codepipeline
        match: {owner: %s}
        accounts:
          - {role_arn: "arn:aws:iam::123456789012:role/rotor", regions: [us-east-1]}
          - {role_arn: "arn:aws:iam::111111111111:role/rotor", regions: [eu-west-1]}
`

// TestServer_AWSCallMetrics: rotor serve's /metrics counts the AWS calls of
// a credential that spans two accounts, each under its own account and
// region, throttles included where the service throttled, and the counts
// outlive the run whose targets made them.
func TestServer_AWSCallMetrics(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "aws-credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "XDG_CACHE_HOME": filepath.Join(dir, "cache")} {
		t.Setenv(k, v)
	}
	world := emulator.DefaultWorld()
	accounts, err := emulator.ParseWorld("accounts.yaml", []byte(fleetAccounts))
	if err != nil {
		t.Fatal(err)
	}
	world.AWS = accounts.AWS
	dev := strings.ReplaceAll(string(emulator.GitHubPipeline("DevPipeline", emulator.SeedUser, emulator.SeedRepo, emulator.SeedBranch, emulator.SeedTokenNote)), "123456789012", "111111111111")
	regions, err := emulator.ParseWorld("regions.yaml", []byte("codepipeline:\n  regions:\n    - {account: \"111111111111\", region: eu-west-1, pipelines: ["+dev+"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	world.CodePipeline.Regions = regions.CodePipeline.Regions
	sb, err := emulator.Start(t.Context(), emulator.Config{World: world, PollInterval: -1, ActionDelay: time.Millisecond, Check: conformance.For(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })

	if err := seal.Generate(filepath.Join(dir, "rotor.key")); err != nil {
		t.Fatal(err)
	}
	pem, err := sb.GitHub.AppPrivateKeyPEM(emulator.SeedApp)
	if err != nil {
		t.Fatal(err)
	}
	appID, installs := sb.GitHub.App(emulator.SeedApp)
	for name, b := range map[string][]byte{
		"app.pem":    pem,
		"api.token":  []byte(testToken + "\n"),
		"rotor.yaml": fmt.Appendf(nil, fleetConfig, sb.GitHubURL, sb.AWSURL, appID, installs[0], emulator.SeedRepo, emulator.SeedUser),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "rotor.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// What cli's serve does, with one more step: the first throttle in dev
	// lifts the throttling, so that the retry goes through.
	devCP := sb.CodePipeline.In("111111111111", "eu-west-1").Faults()
	var lift sync.Once
	calls := NewAWSCalls()
	env, err := wiring.Open(t.Context(), cfg, nil, wiring.WithAWSCalls(func(c ratelimit.Call) {
		calls.Observe(c)
		if c.Result == ratelimit.ResultThrottled && c.Account == "111111111111" {
			lift.Do(func() { devCP.SetRules(nil) })
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })

	// Before rotor serve: both pipelines hold an installation token of the
	// app, which rotor adopt recorded.
	ctx := t.Context()
	cred, err := env.Credential(ctx, &cfg.Credentials[0], wiring.CredentialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := cred.Targets[0].Discover(ctx)
	if err != nil || len(bindings) != 2 {
		t.Fatalf("discover: %d bindings, %v; want 2", len(bindings), err)
	}
	minted, err := cred.Source.Mint(ctx, rotation.Requirements{Repositories: bindings[0].Repositories})
	if err != nil {
		t.Fatal(err)
	}
	cred.Targets[0].Apply(ctx, minted.Token, bindings, func(r rotation.Result) {
		if r.Err != nil {
			t.Fatalf("apply %s: %v", r.BindingID, r.Err)
		}
	})
	if _, err := env.Engine(nil).Adopt(ctx, cred, minted.Token, rotation.AdoptOptions{ConfirmUnverifiable: true}); err != nil {
		t.Fatal(err)
	}

	// dev's CodePipeline lets ListPipelines through once an hour, and the
	// test has just spent that once: the run's listing of dev is throttled.
	devCP.SetRules([]fault.Rule{{Operation: "ListPipelines", RatePerSecond: 1.0 / 3600}})
	if devCP.Decide(ctx, "codepipeline", "ListPipelines", "") != fault.Pass {
		t.Fatal("the fault rule's bucket did not start full")
	}

	clock := &clock{t: time.Now()} // the store and the emulators keep real time
	s, err := New(Deps{Config: cfg, Store: env.Store, Engine: env.Engine(nil), AWSCalls: calls,
		Credential: func(ctx context.Context, cc *config.Credential) (rotation.Credential, error) {
			return env.Credential(ctx, cc, wiring.CredentialOptions{})
		}}, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rotate := func() {
		t.Helper()
		clock.Advance(2 * time.Hour)
		s.tick(ctx)
		s.jobs.Wait()
		runs, err := env.Store.Runs(ctx, "fleet", 1)
		if err != nil || len(runs) != 1 || runs[0].Status != rotation.RunSucceeded {
			t.Fatalf("newest run %+v, %v; want it succeeded", runs, err)
		}
	}
	rotate()

	metrics := scrape(t, s)
	series := func(metric, account, region, result string) map[string]float64 {
		t.Helper()
		re := regexp.MustCompile(`(?m)^` + metric + `\{account="` + account + `",operation="(\w+)",region="` + region + `",` +
			map[bool]string{true: `result="` + result + `",`, false: ``}[result != ""] + `service="codepipeline"\} (\S+)$`)
		out := map[string]float64{}
		for _, m := range re.FindAllStringSubmatch(metrics, -1) {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("%s: %v", m[0], err)
			}
			out[m[1]] = v
		}
		return out
	}
	t.Logf("/metrics, AWS calls:\n%s", grepLines(metrics, "rotor_aws_"))
	if got := series("rotor_aws_calls_total", "111111111111", "eu-west-1", "throttled"); got["ListPipelines"] != 1 || len(got) != 1 {
		t.Errorf("dev's throttled calls: %v, want ListPipelines 1", got)
	}
	devOK := series("rotor_aws_calls_total", "111111111111", "eu-west-1", "ok")
	homeOK := series("rotor_aws_calls_total", "123456789012", "us-east-1", "ok")
	for _, op := range []string{"ListPipelines", "GetPipeline", "UpdatePipeline"} {
		if devOK[op] == 0 || homeOK[op] == 0 {
			t.Errorf("%s: ok calls in dev %v, in home %v; want some in each", op, devOK[op], homeOK[op])
		}
	}
	if got := series("rotor_aws_calls_total", "123456789012", "us-east-1", "throttled"); len(got) != 0 {
		t.Errorf("home's throttled calls: %v, want none: dev's throttle is dev's alone", got)
	}
	if got := series("rotor_aws_rate_limit", "111111111111", "eu-west-1", ""); got["ListPipelines"] <= 0 {
		t.Errorf("dev's ListPipelines rate limit: %v, want a rate", got)
	}

	// A second run builds new targets and limiters; the counts go on.
	rotate()
	metrics = scrape(t, s)
	again := series("rotor_aws_calls_total", "123456789012", "us-east-1", "ok")
	if again["UpdatePipeline"] <= homeOK["UpdatePipeline"] {
		t.Errorf("home's UpdatePipeline calls after a second run: %v, after the first %v; want more", again["UpdatePipeline"], homeOK["UpdatePipeline"])
	}
	if got := series("rotor_aws_calls_total", "111111111111", "eu-west-1", "throttled"); got["ListPipelines"] != 1 {
		t.Errorf("dev's throttled calls after a second run: %v, want the first run's still counted", got)
	}
}
