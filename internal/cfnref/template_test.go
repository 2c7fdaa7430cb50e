package cfnref

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{
			"json",
			`{"Resources":{"P":{"Type":"AWS::CodePipeline::Pipeline","Properties":{"Name":{"Fn::Sub":"${AWS::StackName}-p"},"N":1}}}}`,
			map[string]any{"Resources": map[string]any{"P": map[string]any{"Type": "AWS::CodePipeline::Pipeline", "Properties": map[string]any{"Name": map[string]any{"Fn::Sub": "${AWS::StackName}-p"}, "N": float64(1)}}}},
		},
		{
			"yaml short forms",
			`
A: !Sub "{{resolve:secretsmanager:${S}:SecretString:token}}"
B: !Ref Param
C: !GetAtt Res.Arn
D: !Join ["", ["a", !Ref AWS::Region]]
E: !Sub
  - "${X}-y"
  - X: !Ref P
F: !If [Cond, !Ref A, !Ref "AWS::NoValue"]
G: !ImportValue shared-token
H: !Base64 {"Fn::Sub": "x"}
`,
			map[string]any{
				"A": map[string]any{"Fn::Sub": "{{resolve:secretsmanager:${S}:SecretString:token}}"},
				"B": map[string]any{"Ref": "Param"},
				"C": map[string]any{"Fn::GetAtt": []any{"Res", "Arn"}},
				"D": map[string]any{"Fn::Join": []any{"", []any{"a", map[string]any{"Ref": "AWS::Region"}}}},
				"E": map[string]any{"Fn::Sub": []any{"${X}-y", map[string]any{"X": map[string]any{"Ref": "P"}}}},
				"F": map[string]any{"Fn::If": []any{"Cond", map[string]any{"Ref": "A"}, map[string]any{"Ref": "AWS::NoValue"}}},
				"G": map[string]any{"Fn::ImportValue": "shared-token"},
				"H": map[string]any{"Fn::Base64": map[string]any{"Fn::Sub": "x"}},
			},
		},
		{
			"yaml long forms, block scalars, anchors",
			`
AWSTemplateFormatVersion: "2010-09-09"
Description: |
  two
  lines
Common: &common {Owner: o, Repo: r}
Use: *common
Version: 1
Flag: true
Empty:
List: [a, 1]
Long:
  Fn::Join: ["", [a, b]]
`,
			map[string]any{
				"AWSTemplateFormatVersion": "2010-09-09", "Description": "two\nlines\n",
				"Common": map[string]any{"Owner": "o", "Repo": "r"}, "Use": map[string]any{"Owner": "o", "Repo": "r"},
				"Version": uint64(1), "Flag": true, "Empty": nil, "List": []any{"a", uint64(1)},
				"Long": map[string]any{"Fn::Join": []any{"", []any{"a", "b"}}},
			},
		},
		{
			"yaml flow mapping at top level",
			`{Resources: {P: {Type: X}}}`,
			map[string]any{"Resources": map[string]any{"P": map[string]any{"Type": "X"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecode_Errors(t *testing.T) {
	const secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	for name, in := range map[string]string{
		"empty":            "  ",
		"not a mapping":    "[1, 2]",
		"broken json":      `{"OAuthToken": "` + secret + `", "x": [}`,
		"broken yaml":      "A: [" + secret + "\nB: {",
		"two documents":    "A: 1\n---\nB: 2\n",
		"a scalar":         secret,
		"alias undefined?": "A: *nope\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(in))
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("err = %v, want ErrTemplate", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "abcdef") {
				t.Errorf("error quotes the template: %v", strings.ReplaceAll(err.Error(), secret, "<SECRET>"))
			}
		})
	}
}

func TestEnv_Eval(t *testing.T) {
	e := env{
		Pseudo:   pseudoFromStackID("arn:aws:cloudformation:eu-west-1:111122223333:stack/st/abc", "st"),
		Params:   map[string]string{"SecretName": "ci/gh", "Key": "token"},
		Physical: map[string]string{"Secret1": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ci/gh-AbCdEf"},
	}
	tests := []struct {
		name string
		in   any
		want string
		err  error
	}{
		{"literal", "x", "x", nil},
		{"number", float64(3), "3", nil},
		{"ref pseudo", map[string]any{"Ref": "AWS::Region"}, "eu-west-1", nil},
		{"ref param", map[string]any{"Ref": "SecretName"}, "ci/gh", nil},
		{"ref resource", map[string]any{"Ref": "Secret1"}, "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ci/gh-AbCdEf", nil},
		{"sub", map[string]any{"Fn::Sub": "{{resolve:secretsmanager:${SecretName}:SecretString:${Key}}}"}, "{{resolve:secretsmanager:ci/gh:SecretString:token}}", nil},
		{"sub with variables", map[string]any{"Fn::Sub": []any{"${A}-${AWS::AccountId}", map[string]any{"A": map[string]any{"Ref": "Key"}}}}, "token-111122223333", nil},
		{"sub escape", map[string]any{"Fn::Sub": "${!Literal}-${AWS::Partition}"}, "${Literal}-aws", nil},
		{"join (cdk)", map[string]any{"Fn::Join": []any{"", []any{"{{resolve:secretsmanager:arn:", map[string]any{"Ref": "AWS::Partition"}, ":secretsmanager:", map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":secret:ci/gh:SecretString:token::}}"}}}, "{{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:111122223333:secret:ci/gh:SecretString:token::}}", nil},
		{"join nested", map[string]any{"Fn::Join": []any{"-", []any{"a", map[string]any{"Fn::Join": []any{"", []any{"b", "c"}}}}}}, "a-bc", nil},
		{"unknown ref", map[string]any{"Ref": "Nope"}, "", ErrUnresolved},
		{"sub attribute", map[string]any{"Fn::Sub": "${Secret1.Arn}"}, "", ErrUnresolved},
		{"sub unknown", map[string]any{"Fn::Sub": "${Nope}"}, "", ErrUnresolved},
		{"sub unclosed", map[string]any{"Fn::Sub": "${Nope"}, "", ErrUnsupported},
		{"getatt", map[string]any{"Fn::GetAtt": []any{"R", "A"}}, "", ErrUnsupported},
		{"import", map[string]any{"Fn::ImportValue": "x"}, "", ErrUnsupported},
		{"if", map[string]any{"Fn::If": []any{"c", "a", "b"}}, "", ErrUnsupported},
		{"list", []any{"a"}, "", ErrUnsupported},
		{"bad join", map[string]any{"Fn::Join": "x"}, "", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.eval(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("eval = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
