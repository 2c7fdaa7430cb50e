package cfnref

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/github-AbCdEf"

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     Ref
		pinned   bool
		warnings int
		err      error
	}{
		{name: "secret name only", in: "{{resolve:secretsmanager:gh}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh"}},
		{name: "json key", in: "{{resolve:secretsmanager:gh:SecretString:token}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh", JSONKey: "token"}},
		{name: "empty secret-string segment", in: "{{resolve:secretsmanager:gh::token}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh", JSONKey: "token"}},
		{name: "cdk trailing empty segments", in: "{{resolve:secretsmanager:gh:SecretString:token::}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh", JSONKey: "token"}},
		{name: "hierarchical name", in: "{{resolve:secretsmanager:ci/github/token}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "ci/github/token"}},
		{name: "full arn with key", in: "{{resolve:secretsmanager:" + arn + ":SecretString:token}}",
			want: Ref{Kind: KindSecretsManager, SecretID: arn, JSONKey: "token"}},
		{name: "arn alone", in: "{{resolve:secretsmanager:" + arn + "}}",
			want: Ref{Kind: KindSecretsManager, SecretID: arn}},
		{name: "AWSCURRENT is not pinned", in: "{{resolve:secretsmanager:gh:SecretString:token:AWSCURRENT}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh", JSONKey: "token", VersionStage: "AWSCURRENT"}},
		{name: "AWSPREVIOUS pinned", in: "{{resolve:secretsmanager:gh:SecretString:token:AWSPREVIOUS}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh", JSONKey: "token", VersionStage: "AWSPREVIOUS"}, pinned: true, warnings: 1},
		{name: "custom stage pinned", in: "{{resolve:secretsmanager:gh:SecretString::PROD}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh", VersionStage: "PROD"}, pinned: true, warnings: 1},
		{name: "version id pinned", in: "{{resolve:secretsmanager:gh:SecretString:token::0f0fcc8a-5f7c-4e36-b9da-2212a3d2760f}}",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh", JSONKey: "token", VersionID: "0f0fcc8a-5f7c-4e36-b9da-2212a3d2760f"}, pinned: true, warnings: 1},
		{name: "spaces around", in: "  {{resolve:secretsmanager:gh}} ",
			want: Ref{Kind: KindSecretsManager, SecretID: "gh"}},
		{name: "ssm-secure", in: "{{resolve:ssm-secure:/ci/github-token}}",
			want: Ref{Kind: KindSSM, Param: "/ci/github-token", Secure: true}},
		{name: "ssm-secure version pinned", in: "{{resolve:ssm-secure:/ci/github-token:3}}",
			want: Ref{Kind: KindSSM, Param: "/ci/github-token", ParamVersion: "3", Secure: true}, pinned: true, warnings: 1},
		{name: "plain ssm", in: "{{resolve:ssm:/ci/github-token}}",
			want: Ref{Kind: KindSSM, Param: "/ci/github-token"}, warnings: 1},

		{name: "both stage and id", in: "{{resolve:secretsmanager:gh:SecretString:token:AWSCURRENT:0f0fcc8a-5f7c-4e36-b9da-2212a3d2760f}}", err: ErrMalformed},
		{name: "too many segments", in: "{{resolve:secretsmanager:gh:SecretString:a:b:c:d}}", err: ErrMalformed},
		{name: "SecretBinary", in: "{{resolve:secretsmanager:gh:SecretBinary:token}}", err: ErrMalformed},
		{name: "no secret id", in: "{{resolve:secretsmanager:}}", err: ErrMalformed},
		{name: "short arn", in: "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1}}", err: ErrMalformed},
		{name: "unknown service", in: "{{resolve:vault:gh}}", err: ErrMalformed},
		{name: "ssm version not a number", in: "{{resolve:ssm-secure:/p:latest}}", err: ErrMalformed},
		{name: "ssm no name", in: "{{resolve:ssm-secure:}}", err: ErrMalformed},
		{name: "literal", in: "ghp_abcdefghijklmnopqrstuvwxyz0123456789", err: ErrNotReference},
		{name: "mixed with text", in: "x{{resolve:secretsmanager:gh}}", err: ErrUnsupported},
		{name: "two references", in: "{{resolve:secretsmanager:a}}{{resolve:secretsmanager:b}}", err: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q) err = %v, want %v", tt.in, err, tt.err)
			}
			if err != nil {
				return
			}
			tt.want.Text = strings.TrimSpace(tt.in)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Ref{}, "Warnings")); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			if got.Pinned() != tt.pinned {
				t.Errorf("Pinned() = %v, want %v", got.Pinned(), tt.pinned)
			}
			if len(got.Warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", got.Warnings, tt.warnings)
			}
		})
	}
}

// TestParse_ErrorsDoNotQuote: a malformed reference may hold a secret by
// mistake; no error repeats it.
func TestParse_ErrorsDoNotQuote(t *testing.T) {
	const secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	for _, in := range []string{
		"{{resolve:" + secret + "}}",
		"{{resolve:secretsmanager:gh:" + secret + ":token}}",
		"{{resolve:secretsmanager:gh:SecretString:a:b:c:" + secret + "}}",
		"{{resolve:ssm-secure:/p:" + secret + "}}",
		secret + "{{resolve:secretsmanager:gh}}",
	} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse accepted a malformed reference")
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes the input: %s", strings.ReplaceAll(err.Error(), secret, "<SECRET>"))
		}
	}
}
