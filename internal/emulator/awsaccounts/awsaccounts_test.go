package awsaccounts_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/goccy/go-yaml"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
)

const worldYAML = `
accounts:
  - id: "111111111111"
    name: dev
    unit: Workloads
    roles:
      - name: rotor
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {AWS: "arn:aws:iam::123456789012:root"}
              Action: sts:AssumeRole
              Condition: {StringEquals: {"sts:ExternalId": rotor-ext-1}}
        policies:
          - Statement: [{Effect: Allow, Action: "codepipeline:*", Resource: "*"}]
      - name: open
        trust_policy:
          Statement: [{Effect: Allow, Principal: {AWS: "123456789012"}, Action: "sts:AssumeRole"}]
        max_session_duration: 2h
  - id: "222222222222"
    name: prod
    unit: Prod
    access_keys: [{id: AKIAPROD000000000001, user: deployer}]
organization:
  units: [{name: Workloads}, {name: Prod, parent: Workloads}]
`

func world(t *testing.T) awsaccounts.World {
	t.Helper()
	var w awsaccounts.World
	if err := yaml.UnmarshalWithOptions([]byte(worldYAML), &w, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	return w
}

type env struct {
	dir *awsaccounts.Directory
	url string
}

func start(t *testing.T, opts ...conformance.Option) env {
	t.Helper()
	dir, err := awsaccounts.NewDirectory(world(t), "123456789012", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(conformance.For(t, opts...).AWS(awsaccounts.New(dir, awsaccounts.Options{})))
	t.Cleanup(srv.Close)
	return env{dir, srv.URL}
}

func (e env) sts(key string) *sts.Client {
	return sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url),
		Credentials: credentials.NewStaticCredentialsProvider(key, "secret", "")})
}

func (e env) orgs(creds aws.CredentialsProvider) *organizations.Client {
	return organizations.New(organizations.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), Credentials: creds})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSTS_GetCallerIdentity(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for _, tt := range []struct{ key, account, arn string }{
		{"AKIAANYTHING00000000", "123456789012", "arn:aws:iam::123456789012:root"},
		{"AKIAPROD000000000001", "222222222222", "arn:aws:iam::222222222222:user/deployer"},
	} {
		out, err := e.sts(tt.key).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Account) != tt.account || aws.ToString(out.Arn) != tt.arn {
			t.Errorf("key %s: account %s arn %s, want %s %s", tt.key, aws.ToString(out.Account), aws.ToString(out.Arn), tt.account, tt.arn)
		}
	}
}

func TestSTS_AssumeRole(t *testing.T) {
	e := start(t, conformance.AllowInvalidRequests()) // a bad session name on purpose
	ctx := context.Background()
	client := e.sts("AKIAANYTHING00000000")
	role := "arn:aws:iam::111111111111:role/rotor"
	const denied = "User: arn:aws:iam::123456789012:root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/rotor"
	for _, tt := range []struct {
		name, role, external string
		client               *sts.Client
		wantCode, wantMsg    string
	}{
		{"no external id", role, "", client, "AccessDenied", denied},
		{"wrong external id", role, "rotor-ext-2", client, "AccessDenied", denied},
		{"unknown role", "arn:aws:iam::111111111111:role/nobody", "rotor-ext-1", client, "AccessDenied", "on resource: arn:aws:iam::111111111111:role/nobody"},
		{"untrusted account", role, "rotor-ext-1", e.sts("AKIAPROD000000000001"), "AccessDenied", "User: arn:aws:iam::222222222222:user/deployer is not authorized"},
		{"bad session name", role, "rotor-ext-1", client, "ValidationError", "at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tt.role), RoleSessionName: aws.String("rotor")}
			if tt.name == "bad session name" {
				in.RoleSessionName = aws.String("bad name!")
			}
			if tt.external != "" {
				in.ExternalId = aws.String(tt.external)
			}
			_, err := tt.client.AssumeRole(ctx, in)
			if apiCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err %v, want %s containing %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}

	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("rotor"), ExternalId: aws.String("rotor-ext-1")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != "arn:aws:sts::111111111111:assumed-role/rotor/rotor" {
		t.Errorf("assumed role ARN %s", got)
	}
	if !strings.HasPrefix(aws.ToString(out.Credentials.AccessKeyId), "ASIA") || out.Credentials.Expiration.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("credentials %s expiring %v", aws.ToString(out.Credentials.AccessKeyId), out.Credentials.Expiration)
	}
	// The temporary credentials are the role's account's.
	temp := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: credentials.NewStaticCredentialsProvider(
		aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))})
	id, err := temp.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != "111111111111" || aws.ToString(id.Arn) != "arn:aws:sts::111111111111:assumed-role/rotor/rotor" {
		t.Errorf("caller %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}
	// A wrong session token is refused.
	forged := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: credentials.NewStaticCredentialsProvider(
		aws.ToString(out.Credentials.AccessKeyId), "x", "forged")})
	if _, err := forged.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("forged session token: %v", err)
	}
	// DurationSeconds beyond the role's maximum (1h by default).
	_, err = client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("rotor"), ExternalId: aws.String("rotor-ext-1"), DurationSeconds: aws.Int32(7200)})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "MaxSessionDuration") {
		t.Errorf("2h session: %v", err)
	}
	if _, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111111111111:role/open"), RoleSessionName: aws.String("s2"), DurationSeconds: aws.Int32(7200)}); err != nil {
		t.Errorf("2h session of a role allowing 2h: %v", err)
	}
}

// TestSTS_AssumeRoleProvider: the SDK's own stscreds provider reaches the
// role's account with no change but the endpoint.
func TestSTS_AssumeRoleProvider(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	prov := stscreds.NewAssumeRoleProvider(e.sts("AKIAANYTHING00000000"), "arn:aws:iam::111111111111:role/rotor", func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String("rotor-ext-1")
	})
	id, err := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: aws.NewCredentialsCache(prov)}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != "111111111111" {
		t.Errorf("account %s", aws.ToString(id.Account))
	}
}

func TestOrganizations_Discovery(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	mgmt := e.orgs(credentials.NewStaticCredentialsProvider("AKIAANYTHING00000000", "x", ""))
	roots, err := mgmt.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(roots.Roots) != 1 {
		t.Fatalf("roots %v", roots.Roots)
	}
	root := aws.ToString(roots.Roots[0].Id)
	ous, err := mgmt.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(root)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ous.OrganizationalUnits) != 1 || aws.ToString(ous.OrganizationalUnits[0].Name) != "Workloads" {
		t.Fatalf("units under the root: %+v", ous.OrganizationalUnits)
	}
	workloads := aws.ToString(ous.OrganizationalUnits[0].Id)
	sub, err := mgmt.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(workloads)})
	if err != nil || len(sub.OrganizationalUnits) != 1 {
		t.Fatalf("units under Workloads: %v %v", sub, err)
	}
	names := func(as []orgtypes.Account) []string {
		var out []string
		for _, a := range as {
			out = append(out, aws.ToString(a.Id))
		}
		return out
	}
	under, err := mgmt.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(workloads)})
	if err != nil || strings.Join(names(under.Accounts), ",") != "111111111111" {
		t.Fatalf("accounts under Workloads: %v %v", names(under.Accounts), err)
	}
	// Paging through every account, 1 at a time, with the SDK's paginator.
	var all []string
	p := organizations.NewListAccountsPaginator(mgmt, &organizations.ListAccountsInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, names(page.Accounts)...)
	}
	if strings.Join(all, ",") != "123456789012,111111111111,222222222222" {
		t.Errorf("accounts %v", all)
	}
	// A member account may not list the organisation.
	member := e.orgs(credentials.NewStaticCredentialsProvider("AKIAPROD000000000001", "x", ""))
	if _, err := member.ListAccounts(ctx, &organizations.ListAccountsInput{}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("member account: %v", err)
	}
	if _, err := mgmt.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-0000-00000000")}); apiCode(err) != "ParentNotFoundException" {
		t.Errorf("unknown parent: %v", err)
	}
}

func TestWorld_Errors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"account id", `accounts: [{id: "12"}]`, "aws.accounts[0].id"},
		{"condition", `accounts: [{id: "111111111111", roles: [{name: r, trust_policy: {Statement: [{Effect: Allow, Principal: "*", Action: "sts:AssumeRole", Condition: {StringEquals: {"aws:SourceIp": x}}}]}}]}]`, "Condition key aws:SourceIp is not modelled"},
		{"unit", `accounts: [{id: "111111111111", unit: Nope}]
organization: {units: [{name: A}]}`, `unit "Nope" is not declared`},
		{"permission principal", `accounts: [{id: "111111111111", roles: [{name: r, policies: [{Statement: [{Effect: Allow, Principal: "*", Action: "*", Resource: "*"}]}]}]}]`, "a permission policy has no Principal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var w awsaccounts.World
			if err := yaml.UnmarshalWithOptions([]byte(tt.yaml), &w, yaml.Strict()); err != nil {
				t.Fatal(err)
			}
			err := w.Validate("123456789012")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDirectory_Allowed(t *testing.T) {
	e := start(t)
	if !e.dir.Allowed("arn:aws:iam::111111111111:role/rotor", "codepipeline:GetPipeline", "arn:aws:codepipeline:us-east-1:111111111111:p") {
		t.Error("codepipeline:* should allow GetPipeline")
	}
	if e.dir.Allowed("arn:aws:iam::111111111111:role/rotor", "codestar-connections:UseConnection", "arn:aws:codestar-connections:us-east-1:111111111111:connection/x") {
		t.Error("a declared role without UseConnection is allowed it")
	}
	if !e.dir.Allowed("arn:aws:iam::111111111111:role/undeclared", "codestar-connections:UseConnection", "x") {
		t.Error("an undeclared role should hold the console's service-role policy")
	}
}
