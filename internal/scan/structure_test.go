package scan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/token"
)

// getPipeline is `aws codepipeline get-pipeline` output, with oauth as the
// GitHub action's OAuthToken (already JSON-quoted) and metadata optional.
func getPipeline(oauth string, metadata bool) string {
	s := `{
    "pipeline": {
        "name": "MyFirstPipeline",
        "roleArn": "arn:aws:iam::111111111111:role/AWS-CodePipeline-Service",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
                        "configuration": {
                            "Owner": "MyGitHubUserName",
                            "Repo": "test-repo",
                            "Branch": "master",
                            "OAuthToken": ` + oauth + `
                        },
                        "outputArtifacts": [{"name": "MyApp"}]
                    }
                ]
            }
        ],
        "version": 3
    }`
	if metadata {
		s += `,
    "metadata": {
        "pipelineArn": "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline",
        "created": "2026-01-01T00:00:00Z",
        "updated": "2026-02-01T00:00:00Z"
    }`
	}
	return s + "\n}\n"
}

const oauthLine = 16 // the line of OAuthToken in getPipeline

func cfnYAML(oauth string) string {
	return `AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  GitHubToken:
    Type: String
    NoEcho: true
Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Stages:
        - Name: Source
          Actions:
            - Name: Source
              ActionTypeId: {Category: Source, Owner: ThirdParty, Provider: GitHub, Version: "1"}
              Configuration:
                Owner: me
                Repo: app
                OAuthToken: ` + oauth + `
`
}

func cfnJSON(oauth string) string {
	return `{
  "Resources": {
    "Pipeline": {
      "Type": "AWS::CodePipeline::Pipeline",
      "Properties": {"Stages": [{"Name": "Source", "Actions": [{"Configuration": {"OAuthToken": ` + oauth + `}}]}]}
    }
  }
}
`
}

func TestScan_Structural(t *testing.T) {
	ghp := gen(token.KindClassicPAT)
	legacy := strings.Repeat("0123456789abcdef", 3)[:40]
	// JSON may escape any character; the token rule cannot see this one,
	// the pipeline rule can.
	escaped := `"\u0067` + ghp[1:] + `"`
	tests := []struct {
		name    string
		file    string
		content string
		want    []brief
	}{
		{"get-pipeline output with a real token", "pipeline.json", getPipeline(`"`+ghp+`"`, true),
			[]brief{{"pipeline.json", oauthLine, RulePipelineJSON, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"update-pipeline input (metadata removed)", "pipeline.json", getPipeline(`"`+ghp+`"`, false),
			[]brief{{"pipeline.json", oauthLine, RulePipelineJSON, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"masked get-pipeline output is harmless", "pipeline.json", getPipeline(`"****"`, true), nil},
		{"the procedure's placeholder", "pipeline.json", getPipeline(`"Replace the **** with your personal access token"`, true), nil},
		{"legacy 40-hex token", "p.json", getPipeline(`"`+legacy+`"`, true),
			[]brief{{"p.json", oauthLine, RulePipelineJSON, token.KindUnknown, ChecksumNone, KnownUnchecked}}},
		{"JSON-escaped token", "p.json", getPipeline(escaped, true),
			[]brief{{"p.json", oauthLine, RulePipelineJSON, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"get-pipeline as YAML", "p.yaml", "pipeline:\n  stages:\n  - actions:\n    - configuration:\n        OAuthToken: " + ghp + "\nmetadata: {}\n",
			[]brief{{"p.yaml", 5, RulePipelineJSON, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"CloudFormation YAML with a literal", "template.yaml", cfnYAML(ghp),
			[]brief{{"template.yaml", 18, RuleCFNLiteral, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"CloudFormation YAML with a quoted literal", "template.yml", cfnYAML(`'` + ghp + `'`),
			[]brief{{"template.yml", 18, RuleCFNLiteral, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"secretsmanager reference", "t.yaml", cfnYAML(`'{{resolve:secretsmanager:github/app:SecretString:token}}'`), nil},
		{"ssm-secure reference", "t.yaml", cfnYAML(`'{{resolve:ssm-secure:/github/app:1}}'`), nil},
		{"!Sub of a reference", "t.yaml", cfnYAML(`!Sub '{{resolve:secretsmanager:${Secret}:SecretString:token}}'`), nil},
		{"!Ref a NoEcho parameter", "t.yaml", cfnYAML(`!Ref GitHubToken`), nil},
		{"CDK-synthesised JSON with a literal", "App.template.json", cfnJSON(`"` + ghp + `"`),
			[]brief{{"App.template.json", 5, RuleCFNLiteral, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"CDK-synthesised JSON with a reference", "App.template.json", cfnJSON(`"{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:gh:SecretString:::}}"`), nil},
		{"CDK JSON with Fn::Join", "App.template.json", cfnJSON(`{"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": "S"}, "}}"]]}`), nil},
		{"a literal token in a template is also a token", "t.yaml", cfnYAML("!Sub " + ghp),
			[]brief{{"t.yaml", 18, RuleToken, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"OAuthToken in some other YAML is just a token", "other.yaml", "settings:\n  OAuthToken: " + ghp + "\n",
			[]brief{{"other.yaml", 2, RuleToken, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
		{"not YAML at all", "script.ts", "const OAuthToken = cdk.SecretValue.unsafePlainText('" + ghp + "');\n",
			[]brief{{"script.ts", 1, RuleToken, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, t.TempDir(), map[string]string{tt.file: tt.content})
			res := scanDir(t, dir, Options{})
			if diff := cmp.Diff(tt.want, briefs(res.Findings), cmp.Comparer(func(a, b []brief) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			for _, f := range res.Findings {
				if f.Rule != RuleToken && (f.Fingerprint == "" || f.Redacted == "" || f.Advice == "") {
					t.Errorf("incomplete finding %+v", f)
				}
			}
		})
	}
}

func TestScan_StructuralColumn(t *testing.T) {
	ghp := gen(token.KindClassicPAT)
	dir := writeTree(t, t.TempDir(), map[string]string{"pipeline.json": getPipeline(`"`+ghp+`"`, true)})
	res := scanDir(t, dir, Options{})
	want := strings.Index(strings.Split(getPipeline(`"`+ghp+`"`, true), "\n")[oauthLine-1], ghp) + 1
	if len(res.Findings) != 1 || res.Findings[0].Column != want {
		t.Fatalf("findings %+v, want one at column %d", res.Findings, want)
	}
	if got := res.Findings[0].Advice; !strings.Contains(got, "delete this file") {
		t.Errorf("advice %q", got)
	}
}

func TestClassifyValue(t *testing.T) {
	tests := []struct {
		in   string
		kind token.Kind
		sum  Checksum
		ok   bool
	}{
		{"****", "", ChecksumNone, false},
		{"", "", ChecksumNone, false},
		{"ghp_REPLACE_ME", token.KindClassicPAT, ChecksumNone, false},
		{"{{resolve:secretsmanager:x}}", "", ChecksumNone, false},
		{strings.Repeat("ab", 20), "", ChecksumNone, true},
		{strings.Repeat("AB", 20), "", ChecksumNone, false},
		{badChecksum(token.KindClassicPAT), token.KindClassicPAT, ChecksumInvalid, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			kind, sum, ok := classifyValue(tt.in)
			if kind != tt.kind || sum != tt.sum || ok != tt.ok {
				t.Errorf("classifyValue = %q %q %v, want %q %q %v", kind, sum, ok, tt.kind, tt.sum, tt.ok)
			}
		})
	}
}
