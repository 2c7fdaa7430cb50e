package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const fleetBase = `credentials:
  - name: app
    source: {type: personal-token}
    targets:
      - type: codepipeline
        match: {owner: acme}
`

// TestParse_Accounts: accounts: and organization: parse into the target.
func TestParse_Accounts(t *testing.T) {
	in := fleetBase + `        accounts:
          - {role_arn: "arn:aws:iam::111111111111:role/rotor", external_id: x, regions: [us-east-1, eu-west-1]}
          - {role_arn: "arn:aws:iam::222222222222:role/rotor", regions: [us-east-1]}
`
	c, err := Parse([]byte(in), "rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Account{
		{RoleARN: "arn:aws:iam::111111111111:role/rotor", ExternalID: "x", Regions: []string{"us-east-1", "eu-west-1"}},
		{RoleARN: "arn:aws:iam::222222222222:role/rotor", Regions: []string{"us-east-1"}},
	}
	if d := cmp.Diff(want, c.Credentials[0].Targets[0].Accounts); d != "" {
		t.Errorf("accounts (-want +got):\n%s", d)
	}
	c, err = Parse([]byte(fleetBase+"        aws_organization: {ou: ou-ab12-cd345678, role_name: rotor, regions: [us-east-1]}\n"), "rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Credentials[0].Targets[0].AWSOrganization; o.OU != "ou-ab12-cd345678" || o.RoleName != "rotor" {
		t.Errorf("organization %+v", o)
	}
}

// TestParse_AccountsErrors: each mistake names the file, line and field.
func TestParse_AccountsErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{
			name: "account without role or regions",
			in:   fleetBase + "        accounts:\n          - {external_id: x}\n",
			want: []string{
				`rotor.yaml:8: credentials[0].targets[0].accounts[0].regions: required: the regions to look in, like [us-east-1, eu-west-1]`,
				`rotor.yaml:8: credentials[0].targets[0].accounts[0].role_arn: required: the role rotor assumes in that account, like arn:aws:iam::123456789012:role/rotor`,
			},
		},
		{
			name: "unknown key",
			in:   fleetBase + "        accounts:\n          - role_arn: \"arn:aws:iam::222222222222:role/other\"\n            region: eu-west-1\n",
			want: []string{`rotor.yaml:9: credentials[0].targets[0].accounts[0].region: unknown field (did you mean "regions"?)`},
		},
		{
			name: "bad role, bad region, account twice",
			in: fleetBase + `        accounts:
          - role_arn: "arn:aws:iam::111111111111:user/x"
            regions: [us-east-1]
          - role_arn: "arn:aws:iam::222222222222:role/rotor"
            regions: [us-east-1, "US East", us-east-1]
          - role_arn: "arn:aws:iam::222222222222:role/other"
            regions: [eu-west-1]
`,
			want: []string{
				`rotor.yaml:8: credentials[0].targets[0].accounts[0].role_arn: "arn:aws:iam::111111111111:user/x": want an IAM role ARN like arn:aws:iam::123456789012:role/rotor`,
				`rotor.yaml:11: credentials[0].targets[0].accounts[1].regions[1]: "US East": want a region like us-east-1`,
				`rotor.yaml:11: credentials[0].targets[0].accounts[1].regions[2]: "us-east-1" listed twice`,
				`rotor.yaml:12: credentials[0].targets[0].accounts[2].role_arn: account 222222222222 is accounts[1] already: list its regions there`,
			},
		},
		{
			name: "accounts with the target's own role, and organization too",
			in: fleetBase + `        role_arn: "arn:aws:iam::111111111111:role/rotor"
        accounts: [{role_arn: "arn:aws:iam::111111111111:role/rotor", regions: [us-east-1]}]
        aws_organization: {role_name: "arn:aws:iam::1:role/x", ou: finance, regions: []}
`,
			want: []string{
				`rotor.yaml:7: credentials[0].targets[0].role_arn: not with accounts or aws_organization: each account names its role and regions`,
				`rotor.yaml:9: credentials[0].targets[0].aws_organization: give accounts or aws_organization, not both`,
				`rotor.yaml:9: credentials[0].targets[0].aws_organization.ou: "finance": want an organisational unit id like ou-ab12-cd345678 (or a root id like r-ab12)`,
				`rotor.yaml:9: credentials[0].targets[0].aws_organization.regions: required: the regions to look in, like [us-east-1, eu-west-1]`,
				`rotor.yaml:9: credentials[0].targets[0].aws_organization.role_name: "arn:aws:iam::1:role/x": want a role name like rotor (not an ARN: the account comes from Organizations)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "rotor.yaml")
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse: %v, want config.Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("errors (-want +got):\n%s\n%s", d, strings.Join(got, "\n"))
			}
		})
	}
}
