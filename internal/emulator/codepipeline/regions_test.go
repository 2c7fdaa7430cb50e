package codepipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/goccy/go-yaml"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

const regionsWorld = `
account: "123456789012"
region: us-east-1
pipelines: [%s]
regions:
  - account: "111111111111"
    region: eu-west-1
    pipelines: [%s]
    faults: [{operation: GetPipeline, rate_per_second: 1, burst: 1}]
  - account: "111111111111"
    region: us-east-1
`

// multi serves a world with three accounts × regions, the accounts reached
// by access key as AWS reaches them.
func multi(t *testing.T) (*codepipeline.Server, string) {
	t.Helper()
	var w codepipeline.World
	src := strings.Replace(regionsWorld, "%s", string(seedJSON("Home", "ghp_x", "false")), 1)
	src = strings.Replace(src, "%s", string(seedJSON("Dublin", "ghp_y", "false")), 1)
	if err := yaml.UnmarshalWithOptions([]byte(src), &w, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	dir, err := awsaccounts.NewDirectory(awsaccounts.World{Accounts: []awsaccounts.AccountSpec{
		{ID: "111111111111", AccessKeys: []awsaccounts.KeySpec{{ID: "AKIADEV0000000000001"}}},
	}}, "123456789012", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := codepipeline.New(w, codepipeline.Options{Accounts: dir, PollInterval: -1, ActionDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(conformance.Wrap(t, "codepipeline", srv))
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, hs.URL
}

func regionClient(url, key, region string) *cp.Client {
	return cp.New(cp.Options{BaseEndpoint: aws.String(url), Region: region,
		Credentials: credentials.NewStaticCredentialsProvider(key, "x", ""),
		Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })})
}

func names(t *testing.T, c *cp.Client) []string {
	t.Helper()
	out, err := c.ListPipelines(context.Background(), &cp.ListPipelinesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, p := range out.Pipelines {
		ns = append(ns, aws.ToString(p.Name))
	}
	return ns
}

func TestServer_AccountsAndRegions(t *testing.T) {
	srv, url := multi(t)
	ctx := context.Background()
	home := regionClient(url, "AKIAANYKEY0000000000", "us-east-1")
	dublin := regionClient(url, "AKIADEV0000000000001", "eu-west-1")
	devVirginia := regionClient(url, "AKIADEV0000000000001", "us-east-1")
	homeOhio := regionClient(url, "AKIAANYKEY0000000000", "us-east-2")

	for _, tt := range []struct {
		name   string
		client *cp.Client
		want   string
	}{
		{"default account and region", home, "Home"},
		{"declared account and region", dublin, "Dublin"},
		{"declared, no pipelines", devVirginia, ""},
		{"undeclared region: empty, as AWS", homeOhio, ""},
	} {
		if got := strings.Join(names(t, tt.client), ","); got != tt.want {
			t.Errorf("%s: pipelines %q, want %q", tt.name, got, tt.want)
		}
	}
	got, err := dublin.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Dublin")})
	if err != nil {
		t.Fatal(err)
	}
	if arn := aws.ToString(got.Metadata.PipelineArn); arn != "arn:aws:codepipeline:eu-west-1:111111111111:Dublin" {
		t.Errorf("ARN %s", arn)
	}
	_, err = home.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Dublin")})
	var nf *types.PipelineNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "Account '123456789012'") {
		t.Errorf("Dublin from the default account: %v", err)
	}
	// Creating in one place leaves the others alone.
	if _, err := devVirginia.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: seedDecl("Fresh", token.Generate(token.KindClassicPAT))}); err != nil {
		t.Fatal(err)
	}
	if n := names(t, dublin); len(n) != 1 {
		t.Errorf("Dublin sees %v", n)
	}
	if srv.In("111111111111", "us-east-1") == nil || srv.In("111111111111", "us-east-1").PipelineNames()[0] != "Fresh" {
		t.Errorf("In(111111111111, us-east-1) does not hold Fresh")
	}
	if len(srv.PipelineNames()) != 1 {
		t.Errorf("the default server holds %v", srv.PipelineNames())
	}

	// Dublin's GetPipeline is throttled at 1/s; the default's is not.
	var throttled int
	for range 5 {
		_, err := dublin.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Dublin")})
		var te interface{ ErrorCode() string }
		if errors.As(err, &te) && te.ErrorCode() == "ThrottlingException" {
			throttled++
		}
		if _, err := home.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("Home")}); err != nil {
			t.Fatalf("the default region was throttled: %v", err)
		}
	}
	if throttled < 3 {
		t.Errorf("Dublin throttled %d of 5 GetPipeline, want most", throttled)
	}
	if c := srv.In("111111111111", "eu-west-1").Faults().Counts()["codepipeline GetPipeline"]; c.Throttled != int64(throttled) {
		t.Errorf("Dublin's own counts: %+v", c)
	}

	// The admin API reaches each place by query.
	resp, err := http.Get(url + "/_emulator/executions?account=111111111111&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ex struct{ Executions []codepipeline.Execution }
	if err := json.Unmarshal(b, &ex); err != nil || len(ex.Executions) != 1 || ex.Executions[0].Pipeline != "Fresh" {
		t.Errorf("admin executions of 111111111111/us-east-1: %s %v", b, err)
	}
	if places := srv.Places(); len(places) != 4 {
		t.Errorf("places %v", places)
	}
}

// TestServer_RegionsSnapshot: the other accounts and regions survive a
// snapshot and restore.
func TestServer_RegionsSnapshot(t *testing.T) {
	srv, url := multi(t)
	if _, err := regionClient(url, "AKIADEV0000000000001", "ap-south-1").CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: seedDecl("Mumbai", token.Generate(token.KindClassicPAT))}); err != nil {
		t.Fatal(err)
	}
	b, err := srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	srv2, _ := multi(t)
	if err := srv2.Restore(b); err != nil {
		t.Fatal(err)
	}
	if got := srv2.In("111111111111", "ap-south-1").PipelineNames(); len(got) != 1 || got[0] != "Mumbai" {
		t.Errorf("restored ap-south-1: %v", got)
	}
}

func TestWorld_RegionErrors(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{`regions: [{account: "12", region: eu-west-1}]`, `regions[0].account "12"`},
		{`regions: [{account: "111111111111", region: Europe}]`, `regions[0].region "Europe"`},
		{`regions: [{account: "123456789012", region: us-east-1}]`, "declared twice"},
		{`regions: [{account: "111111111111", region: eu-west-1, faults: [{service: github, fail: true}]}]`, "a region's rules are codepipeline's"},
		{`regions: [{account: "111111111111", region: eu-west-1, pipelines: [{name: "bad name!"}]}]`, "regions[0].pipelines[0]"},
	} {
		var w codepipeline.World
		if err := yaml.UnmarshalWithOptions([]byte(tt.yaml), &w, yaml.Strict()); err != nil {
			t.Fatal(err)
		}
		if err := w.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

// TestServer_PerAccountThrottles: a world-wide rule gives every account and
// region its own token bucket (20/s here), declared or not; a region's own
// rule throttles that account and region harder (5/s) and nobody else. A
// burst that drains the slow account's bucket leaves the others' full.
func TestServer_PerAccountThrottles(t *testing.T) {
	const src = `
pipelines: []
regions:
  - {account: "222222222222", region: us-east-1}
  - {account: "222222222222", region: eu-west-1}
  - account: "444444444444"
    region: us-east-1
    faults: [{operation: GetPipeline, rate_per_second: 5, burst: 5}]
`
	var w codepipeline.World
	if err := yaml.UnmarshalWithOptions([]byte(src), &w, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	var accounts []awsaccounts.AccountSpec
	for _, id := range []string{"222222222222", "333333333333", "444444444444"} {
		accounts = append(accounts, awsaccounts.AccountSpec{ID: id, AccessKeys: []awsaccounts.KeySpec{{ID: "AKIA" + id + "00000000"}}})
	}
	dir, err := awsaccounts.NewDirectory(awsaccounts.World{Accounts: accounts}, "123456789012", nil)
	if err != nil {
		t.Fatal(err)
	}
	world := fault.New(fault.Rule{Service: codepipeline.Service, Operation: "GetPipeline", RatePerSecond: 20, Burst: 20})
	srv, err := codepipeline.New(w, codepipeline.Options{Accounts: dir, Faults: world, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(conformance.Wrap(t, "codepipeline", srv))
	t.Cleanup(func() { hs.Close(); srv.Close() })

	type place struct{ account, region string }
	places := []place{
		{"123456789012", "us-east-1"},                                // the default
		{"222222222222", "us-east-1"}, {"222222222222", "eu-west-1"}, // one account, two regions
		{"333333333333", "us-east-1"}, // an account the regions section does not declare
		{"444444444444", "us-east-1"}, // the slow one
	}
	clients := make([]*cp.Client, len(places))
	for i, p := range places {
		clients[i] = regionClient(hs.URL, "AKIA"+p.account+"00000000", p.region)
	}
	throttled := make([]int, len(places))
	start := time.Now()
	for range 20 {
		for i, c := range clients {
			_, err := c.GetPipeline(context.Background(), &cp.GetPipelineInput{Name: aws.String("Nope")})
			var te interface{ ErrorCode() string }
			switch {
			case errors.As(err, &te) && te.ErrorCode() == "ThrottlingException":
				throttled[i]++
			case errors.As(err, &te) && te.ErrorCode() == "PipelineNotFoundException":
			default:
				t.Fatalf("%v: %v", places[i], err)
			}
		}
	}
	elapsed := time.Since(start)
	for i, p := range places[:4] {
		if throttled[i] != 0 {
			t.Errorf("%v (20/s, burst 20) throttled %d of 20", p, throttled[i])
		}
	}
	// 5 in the burst, then 5 a second: at most 5 + 5×elapsed pass.
	if passed := 20 - throttled[4]; float64(passed) > 5+5*elapsed.Seconds()+1 {
		t.Errorf("the 5/s account let %d of 20 through in %v", passed, elapsed)
	}
	// Each place counts its own, and the admin API shows them by place.
	resp, err := http.Get(hs.URL + "/_emulator/faults/counts?account=444444444444&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var counts map[string]fault.Count
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	if c := counts["GetPipeline"]; c.Requests != 20 || c.Throttled != int64(throttled[4]) {
		t.Errorf("the slow account's counts %+v, want 20 requests, %d throttled", c, throttled[4])
	}
	if c := srv.Faults().Counts()["codepipeline GetPipeline"]; c.Requests != 20 || c.Throttled != 0 {
		t.Errorf("the default account's counts %+v", c)
	}
}
