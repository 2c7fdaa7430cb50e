package codepipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// fleetWorld: three accounts besides the default one. dev (111…) has
// pipelines in us-east-1 and eu-west-1, prod (222…) in us-east-1, both in
// unit Workloads (prod in its child unit Prod); sandbox (333…) is outside
// it. Each trusts the default account with external id "ext".
func fleetWorld(t *testing.T) emulator.World {
	t.Helper()
	pipeline := func(name, account string) string {
		p := string(emulator.GitHubPipeline(name, emulator.SeedUser, emulator.SeedRepo, emulator.SeedBranch, emulator.SeedTokenNote))
		return strings.ReplaceAll(p, "123456789012", account)
	}
	role := `roles: [{name: rotor, trust_policy: {Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: "sts:AssumeRole", Condition: {StringEquals: {"sts:ExternalId": ext}}}]}}]`
	src := `
github:
  users: [{login: MyGitHubUserName}]
  repos: [{owner: MyGitHubUserName, name: test-repo, private: true, branches: [master]}]
  tokens: [{user: MyGitHubUserName, kind: classic, note: codepipeline, scopes: [repo, "admin:repo_hook"]}]
codepipeline:
  regions:
    - {account: "111111111111", region: us-east-1, pipelines: [` + pipeline("dev-a", "111111111111") + `, ` + pipeline("dev-b", "111111111111") + `]}
    - {account: "111111111111", region: eu-west-1, pipelines: [` + pipeline("dev-a", "111111111111") + `]}
    - {account: "222222222222", region: us-east-1, pipelines: [` + pipeline("prod-a", "222222222222") + `]}
    - {account: "333333333333", region: us-east-1, pipelines: [` + pipeline("sandbox-a", "333333333333") + `]}
aws:
  accounts:
    - {id: "111111111111", name: dev, unit: Workloads, ` + role + `}
    - {id: "222222222222", name: prod, unit: Prod, ` + role + `}
    - {id: "333333333333", name: sandbox, ` + role + `}
  organization: {units: [{name: Workloads}, {name: Prod, parent: Workloads}]}
`
	w, err := emulator.ParseWorld("fleet.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func startFleetSandbox(t *testing.T) *emulator.Sandbox {
	t.Helper()
	sb, err := emulator.Start(context.Background(), emulator.Config{World: fleetWorld(t), PollInterval: -1, ActionDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func fleetBase(endpoint string) Config {
	return Config{
		AWS:            awsx.Config{Region: "us-east-1", EndpointURL: endpoint, Credentials: static},
		Match:          &Match{Owner: emulator.SeedUser},
		CacheDir:       "-",
		CloudFormation: noStacks{},
		Limits:         ratelimit.Options{Initial: 500},
		PollInterval:   10 * time.Millisecond,
		IdlePoll:       10 * time.Millisecond,
	}
}

func fleetRole(account string) string { return "arn:aws:iam::" + account + ":role/rotor" }

// sandboxPlaces are fleetWorld's places under unit Workloads: dev
// (111…) in us-east-1 and eu-west-1, prod (222…) in us-east-1.
func sandboxPlaces() []Place {
	return []Place{
		{RoleARN: fleetRole("111111111111"), ExternalID: "ext", Region: "us-east-1"},
		{RoleARN: fleetRole("111111111111"), ExternalID: "ext", Region: "eu-west-1"},
		{RoleARN: fleetRole("222222222222"), ExternalID: "ext", Region: "us-east-1"},
	}
}

// TestFleet_Accounts: one target over accounts × regions reaches each
// through its role and external id, finds every place's bindings (IDs
// naming account and region), applies the token in each and verifies it;
// each place has its own limiter.
func TestFleet_Accounts(t *testing.T) {
	isolate(t)
	sb := startFleetSandbox(t)
	ctx := context.Background()
	places := sandboxPlaces()
	var (
		mu   sync.Mutex
		last rotation.Progress
	)
	base := fleetBase(sb.AWSURL)
	base.Progress = func(p rotation.Progress) { mu.Lock(); last = p; mu.Unlock() }
	f, err := NewFleet(ctx, base, places, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := f.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		BindingID("111111111111", "eu-west-1", "dev-a", "Source", "Source"),
		BindingID("111111111111", "us-east-1", "dev-a", "Source", "Source"),
		BindingID("111111111111", "us-east-1", "dev-b", "Source", "Source"),
		BindingID("222222222222", "us-east-1", "prod-a", "Source", "Source"),
	}
	if d := cmp.Diff(want, bindingIDs(bs)); d != "" {
		t.Fatalf("bindings (-want +got):\n%s", d)
	}
	fresh := token.Generate(token.KindClassicPAT)
	res := collect(func(report func(rotation.Result)) { f.Apply(ctx, fresh, bs, report) })
	if fs := failures(res); len(fs) > 0 {
		t.Fatalf("Apply: %v", fs)
	}
	wantProgress := rotation.Progress{Done: 4, Total: 4, Places: []rotation.PlaceProgress{
		{Account: "111111111111", Region: "eu-west-1", Done: 1, Total: 1},
		{Account: "111111111111", Region: "us-east-1", Done: 2, Total: 2},
		{Account: "222222222222", Region: "us-east-1", Done: 1, Total: 1},
	}}
	if d := cmp.Diff(wantProgress, last); d != "" {
		t.Errorf("progress at the end of Apply, per account and region (-want +got):\n%s", d)
	}
	for _, c := range []struct{ account, region, pipeline string }{
		{"111111111111", "us-east-1", "dev-a"}, {"111111111111", "us-east-1", "dev-b"},
		{"111111111111", "eu-west-1", "dev-a"}, {"222222222222", "us-east-1", "prod-a"},
	} {
		if got, _ := sb.CodePipeline.In(c.account, c.region).StoredToken(c.pipeline, "Source"); got.Reveal() != fresh.Reveal() {
			t.Errorf("%s %s %s does not hold the new token", c.account, c.region, c.pipeline)
		}
	}
	if got, _ := sb.CodePipeline.In("333333333333", "us-east-1").StoredToken("sandbox-a", "Source"); got.Reveal() == fresh.Reveal() {
		t.Error("an account not in the target was written")
	}
	if fs := failures(collect(func(report func(rotation.Result)) { f.Verify(ctx, fresh, bs, report) })); len(fs) > 0 {
		t.Errorf("Verify: %v", fs)
	}
	// A call over one place reports that place only, not the last call's others.
	if fs := failures(collect(func(report func(rotation.Result)) { f.Verify(ctx, fresh, bs[3:], report) })); len(fs) > 0 {
		t.Errorf("Verify %s: %v", bs[3].ID, fs)
	}
	wantProgress = rotation.Progress{Done: 1, Total: 1, Places: []rotation.PlaceProgress{{Account: "222222222222", Region: "us-east-1", Done: 1, Total: 1}}}
	if d := cmp.Diff(wantProgress, last); d != "" {
		t.Errorf("progress at the end of a Verify in one place (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"111111111111:eu-west-1", "111111111111:us-east-1", "222222222222:us-east-1"}, f.Places()); d != "" {
		t.Errorf("places (-want +got):\n%s", d)
	}
	if n := len(f.RateStats()); n != 3 {
		t.Errorf("%d limiter groups, want one per place (3)", n)
	}

	// A binding of an account the target does not span is refused unchanged.
	foreign := rotation.Binding{ID: BindingID("333333333333", "us-east-1", "sandbox-a", "Source", "Source"), Target: Type}
	res = collect(func(report func(rotation.Result)) { f.Apply(ctx, fresh, []rotation.Binding{foreign}, report) })
	if err := res[foreign.ID]; !errors.Is(err, ErrForeignBinding) {
		t.Errorf("Apply to another account's binding: %v, want %v", err, ErrForeignBinding)
	}
}

// TestFleet_WrongExternalID: an account whose role refuses rotor is an
// error naming that account and region; the others are still discovered.
func TestFleet_WrongExternalID(t *testing.T) {
	isolate(t)
	sb := startFleetSandbox(t)
	ctx := context.Background()
	f, err := NewFleet(ctx, fleetBase(sb.AWSURL), []Place{
		{RoleARN: fleetRole("111111111111"), ExternalID: "ext", Region: "us-east-1"},
		{RoleARN: fleetRole("222222222222"), ExternalID: "wrong", Region: "us-east-1"},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := f.Discover(ctx)
	if err == nil || !strings.Contains(err.Error(), "222222222222") || !strings.Contains(err.Error(), "us-east-1") {
		t.Errorf("Discover: %v, want an error naming account 222222222222 in us-east-1", err)
	}
	if len(bs) != 2 {
		t.Errorf("%d bindings, want dev's 2", len(bs))
	}
}

// TestFleet_Organization: the accounts come from Organizations: under a
// unit, at any depth (dev in Workloads, prod in Workloads/Prod), and not
// the account outside it.
func TestFleet_Organization(t *testing.T) {
	isolate(t)
	sb := startFleetSandbox(t)
	ctx := context.Background()
	awsCfg, err := awsx.Load(ctx, awsx.Config{Region: "us-east-1", EndpointURL: sb.AWSURL, Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	orgs := organizations.NewFromConfig(awsCfg)
	roots, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	units, err := orgs.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: roots.Roots[0].Id})
	if err != nil || len(units.OrganizationalUnits) != 1 {
		t.Fatalf("units under the root: %+v, %v", units, err)
	}
	ou := aws.ToString(units.OrganizationalUnits[0].Id)

	f, err := NewFleet(ctx, fleetBase(sb.AWSURL), nil, &Organization{OU: ou, RoleName: "rotor", ExternalID: "ext", Regions: []string{"us-east-1", "eu-west-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := f.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var accounts []string
	for _, b := range bs {
		accounts = append(accounts, b.Attrs[AttrAccount]+":"+b.Attrs[AttrRegion]+":"+b.Attrs[AttrPipeline])
	}
	want := []string{"111111111111:eu-west-1:dev-a", "111111111111:us-east-1:dev-a", "111111111111:us-east-1:dev-b", "222222222222:us-east-1:prod-a"}
	if d := cmp.Diff(want, accounts); d != "" {
		t.Errorf("bindings (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"111111111111:eu-west-1", "111111111111:us-east-1", "222222222222:eu-west-1", "222222222222:us-east-1"}, f.Places()); d != "" {
		t.Errorf("places (-want +got):\n%s", d)
	}

	empty, err := NewFleet(ctx, fleetBase(sb.AWSURL), nil, &Organization{OU: ou + "x", RoleName: "rotor", Regions: []string{"us-east-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.Discover(ctx); err == nil {
		t.Error("Discover under an OU that does not exist: no error")
	}
}
