package codepipeline

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/emulator/motoserver"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// The fleet against moto_server, an implementation nobody here wrote. moto
// keys every resource by the account of the caller's access key, and the
// key sts:AssumeRole returns for arn:aws:iam::ACCOUNT:role/… belongs to
// ACCOUNT: so the fleet reaches each account as it would on AWS, through
// STS. What moto does not do, and the emulator's fleet tests cover: it
// checks no trust policy nor external id (any role of any account can be
// assumed, even one that does not exist), throttles nothing, and masks no
// token in GetPipeline. ListPipelineExecutions, which moto lacks, is
// answered "idle" by epochProxy, as for every moto test of this package.

// motoFleet is one moto_server with a backend (an admin client acting in
// the account, through the account's assumed role) per account × region.
type motoFleet struct {
	endpoint string
	roles    map[string]bool    // accounts whose pipeline service role exists
	places   map[string]backend // by account:region
}

func startMotoFleet(t *testing.T) *motoFleet {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: -short: moto_server takes seconds to start; the fleet against moto did not run")
	}
	isolate(t)
	return &motoFleet{endpoint: epochProxy(t, motoserver.Start(t)), roles: map[string]bool{}, places: map[string]backend{}}
}

// in is the backend acting in account and region, as rotor's role there.
func (m *motoFleet) in(t *testing.T, account, region string) backend {
	t.Helper()
	key := account + ":" + region
	if be, ok := m.places[key]; ok {
		return be
	}
	ctx := context.Background()
	cfg, err := awsx.Load(ctx, awsx.Config{Region: region, EndpointURL: m.endpoint, Credentials: static, RoleARN: fleetRole(account), ExternalID: "ext"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx) // sts:AssumeRole
	if err != nil {
		t.Fatalf("moto AssumeRole into %s: %v", account, awsx.Sanitize(err))
	}
	if !m.roles[account] {
		// moto refuses CreatePipeline with a service role its account lacks.
		motoserver.CreateRoleAs(t, m.endpoint, creds.AccessKeyID, "rotor-test-codepipeline", motoserver.TrustPolicy)
		m.roles[account] = true
	}
	admin := sdk.NewFromConfig(cfg)
	be := backend{name: "moto " + key, endpoint: m.endpoint, admin: admin, stored: motoStored(admin)}
	m.places[key] = be
	return be
}

// pipeline creates pipeline name in account and region with one GitHub v1
// source action "GitHub" of acme/repo holding tok.
func (m *motoFleet) pipeline(t *testing.T, account, region, name, repo string, tok token.Token) {
	t.Helper()
	d := testDecl(name, ghSpec{"GitHub", "acme", repo, tok})
	d.RoleArn = aws.String("arn:aws:iam::" + account + ":role/rotor-test-codepipeline")
	create(t, m.in(t, account, region), d)
}

// fleetPipeline is one pipeline of the moto fleet tests, where it is.
type fleetPipeline struct{ account, region, pipeline string }

func (w fleetPipeline) id() string {
	return BindingID(w.account, w.region, w.pipeline, "Source", "GitHub")
}

// checkApplied: every pipeline of changed holds fresh, one version later,
// its declaration otherwise unchanged (moto shows tokens unmasked:
// comparable masks them on both sides); every pipeline of untouched still
// holds old at its version.
func (m *motoFleet) checkApplied(t *testing.T, before map[fleetPipeline]snapshot, fresh, old token.Token, changed, untouched []fleetPipeline) {
	t.Helper()
	for _, w := range changed {
		be := m.in(t, w.account, w.region)
		after := getRaw(t, be, w.pipeline)
		if d := cmp.Diff(before[w].decl, after.decl); d != "" {
			t.Errorf("%v: declaration changed beyond the token (-before +after):\n%s", w, d)
		}
		if after.version != before[w].version+1 {
			t.Errorf("%v: version %d → %d, want +1", w, before[w].version, after.version)
		}
		if got := be.stored(t, w.pipeline, "GitHub"); !got.Equal(fresh) {
			t.Errorf("%v holds %v, want the new token %v", w, got, fresh)
		}
	}
	for _, w := range untouched {
		be := m.in(t, w.account, w.region)
		if after := getRaw(t, be, w.pipeline); after.version != before[w].version {
			t.Errorf("%v was updated (version %d → %d): not the fleet's", w, before[w].version, after.version)
		}
		if got := be.stored(t, w.pipeline, "GitHub"); !got.Equal(old) {
			t.Errorf("%v holds %v, want its token %v untouched", w, got, old)
		}
	}
}

func (m *motoFleet) snapshots(t *testing.T, ws ...[]fleetPipeline) map[fleetPipeline]snapshot {
	t.Helper()
	out := map[fleetPipeline]snapshot{}
	for _, list := range ws {
		for _, w := range list {
			out[w] = getRaw(t, m.in(t, w.account, w.region), w.pipeline)
		}
	}
	return out
}

// TestFleet_MotoAccounts: `accounts:` over two accounts × two regions of
// moto. The same pipeline name in every account and region (moto would
// refuse the second CreatePipeline if it did not keep accounts apart):
// every one is discovered with its account and region in the binding ID,
// applied through its account's assumed role and verified; a pipeline of
// another repository, of a region not listed and of an account not listed
// keeps its token and version.
func TestFleet_MotoAccounts(t *testing.T) {
	m := startMotoFleet(t)
	ctx := context.Background()
	const dev, prod, sandbox = "111111111111", "222222222222", "333333333333"
	old, fresh := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	changed := []fleetPipeline{
		{dev, "us-east-1", "app"}, {dev, "eu-west-1", "app"},
		{prod, "us-east-1", "app"}, {prod, "eu-west-1", "app"},
	}
	untouched := []fleetPipeline{
		{dev, "ap-southeast-2", "app"}, // a region the target does not list
		{sandbox, "us-east-1", "app"},  // an account the target does not list
	}
	for _, w := range append(slices.Clone(changed), untouched...) {
		m.pipeline(t, w.account, w.region, w.pipeline, "app", old)
	}
	other := fleetPipeline{dev, "us-east-1", "other"} // a repository the target does not match
	m.pipeline(t, dev, "us-east-1", "other", "other", old)
	untouched = append(untouched, other)
	before := m.snapshots(t, changed, untouched)

	base := fleetBase(m.endpoint)
	base.Match = &Match{Owner: "acme", Repo: "app"}
	var places []Place
	for _, a := range []string{dev, prod} {
		for _, r := range []string{"us-east-1", "eu-west-1"} {
			places = append(places, Place{RoleARN: fleetRole(a), ExternalID: "ext", Region: r})
		}
	}
	f, err := NewFleet(ctx, base, places, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs := discoverExactly(ctx, t, f, changed)
	for _, b := range bs {
		if b.Attrs[AttrAccount] == "" || b.Attrs[AttrRegion] == "" {
			t.Errorf("%s: attrs %v lack account or region", b.ID, b.Attrs)
		}
	}
	if fs := failures(collect(func(report func(rotation.Result)) { f.Apply(ctx, fresh, bs, report) })); len(fs) > 0 {
		t.Fatalf("Apply: %v", fs)
	}
	m.checkApplied(t, before, fresh, old, changed, untouched)
	if fs := failures(collect(func(report func(rotation.Result)) { f.Verify(ctx, fresh, bs, report) })); len(fs) > 0 {
		t.Errorf("Verify: %v", fs)
	}
	if n := len(f.RateStats()); n != 4 {
		t.Errorf("%d limiter groups, want one per account × region (4)", n)
	}
}

// TestFleet_MotoOrganization: `aws_organization:` against moto's
// Organizations. dev is in unit Workloads, prod in its child unit Prod,
// sandbox at the root: the fleet under Workloads finds dev's and prod's
// pipelines in both regions, through the role it assumes in each, and
// leaves sandbox's alone. Accounts come from moto's CreateAccount, so their
// IDs are moto's.
func TestFleet_MotoOrganization(t *testing.T) {
	m := startMotoFleet(t)
	ctx := context.Background()
	// The base credentials are an access key moto does not know: the
	// default account 123456789012, the organization's management account.
	cfg, err := awsx.Load(ctx, awsx.Config{Region: "us-east-1", EndpointURL: m.endpoint, Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	orgs := organizations.NewFromConfig(cfg)
	if _, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatalf("moto CreateOrganization: %v", awsx.Sanitize(err))
	}
	roots, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("moto ListRoots: %+v %v", roots, err)
	}
	root := aws.ToString(roots.Roots[0].Id)
	unit := func(name, parent string) string {
		out, err := orgs.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{Name: &name, ParentId: &parent})
		if err != nil {
			t.Fatalf("moto CreateOrganizationalUnit %s: %v", name, awsx.Sanitize(err))
		}
		return aws.ToString(out.OrganizationalUnit.Id)
	}
	workloads := unit("Workloads", root)
	prodUnit := unit("Prod", workloads)
	account := func(name, parent string) string {
		out, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: &name, Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatalf("moto CreateAccount %s: %v", name, awsx.Sanitize(err))
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		if parent != root {
			if _, err := orgs.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: &id, SourceParentId: &root, DestinationParentId: &parent}); err != nil {
				t.Fatalf("moto MoveAccount %s: %v", name, awsx.Sanitize(err))
			}
		}
		return id
	}
	dev, prod, sandbox := account("dev", workloads), account("prod", prodUnit), account("sandbox", root)

	old, fresh := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	changed := []fleetPipeline{{dev, "us-east-1", "app"}, {dev, "eu-west-1", "app"}, {prod, "us-east-1", "app"}}
	untouched := []fleetPipeline{{sandbox, "us-east-1", "app"}}
	for _, w := range append(slices.Clone(changed), untouched...) {
		m.pipeline(t, w.account, w.region, w.pipeline, "app", old)
	}
	before := m.snapshots(t, changed, untouched)

	base := fleetBase(m.endpoint)
	base.Match = &Match{Owner: "acme", Repo: "app"}
	f, err := NewFleet(ctx, base, nil, &Organization{OU: workloads, RoleName: "rotor", ExternalID: "ext", Regions: []string{"us-east-1", "eu-west-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs := discoverExactly(ctx, t, f, changed)
	wantPlaces := []string{dev + ":eu-west-1", dev + ":us-east-1", prod + ":eu-west-1", prod + ":us-east-1"}
	slices.Sort(wantPlaces)
	if d := cmp.Diff(wantPlaces, f.Places()); d != "" {
		t.Errorf("places (-want +got):\n%s", d)
	}
	if fs := failures(collect(func(report func(rotation.Result)) { f.Apply(ctx, fresh, bs, report) })); len(fs) > 0 {
		t.Fatalf("Apply: %v", fs)
	}
	m.checkApplied(t, before, fresh, old, changed, untouched)
	if fs := failures(collect(func(report func(rotation.Result)) { f.Verify(ctx, fresh, bs, report) })); len(fs) > 0 {
		t.Errorf("Verify: %v", fs)
	}
}

// discoverExactly discovers f and fails t unless it finds the bindings of
// the pipelines in want and no others.
func discoverExactly(ctx context.Context, t *testing.T, f *Fleet, want []fleetPipeline) []rotation.Binding {
	t.Helper()
	bs, err := f.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, w := range want {
		ids = append(ids, w.id())
	}
	slices.Sort(ids)
	if d := cmp.Diff(ids, bindingIDs(bs)); d != "" {
		t.Fatalf("bindings (-want +got):\n%s", d)
	}
	return bs
}
