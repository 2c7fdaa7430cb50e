package scan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/token"
)

func TestFindTokens(t *testing.T) {
	ghp, gho, ghu, ghr, ghs := gen(token.KindClassicPAT), gen(token.KindOAuth), gen(token.KindAppUser), gen(token.KindAppRefresh), gen(token.KindInstallation)
	pat, jwt, bad := gen(token.KindFineGrained), stateless(), badChecksum(token.KindClassicPAT)
	type hit struct {
		Value    string
		Kind     token.Kind
		Checksum Checksum
	}
	tests := []struct {
		name string
		in   string
		want []hit
	}{
		{"classic alone", ghp, []hit{{ghp, token.KindClassicPAT, ChecksumValid}}},
		{"every kind", strings.Join([]string{"a=" + gho, "u:" + ghu, `"` + ghr + `"`, "https://x-access-token:" + ghs + "@github.com", pat}, "\n"),
			[]hit{{gho, token.KindOAuth, ChecksumValid}, {ghu, token.KindAppUser, ChecksumValid}, {ghr, token.KindAppRefresh, ChecksumValid}, {ghs, token.KindInstallation, ChecksumNone}, {pat, token.KindFineGrained, ChecksumNone}}},
		{"stateless installation token ends a sentence", "token " + jwt + ".", []hit{{jwt, token.KindInstallation, ChecksumNone}}},
		{"bad checksum is kept", "GITHUB_TOKEN=" + bad, []hit{{bad, token.KindClassicPAT, ChecksumInvalid}}},
		{"longer word is not a token", ghp + "x", nil},
		{"underscore continues the word", ghp + "_", nil},
		{"preceded by a letter", "x" + ghp, nil},
		{"too short", ghp[:39], nil},
		{"fine-grained cut short", pat[:90], nil},
		{"ghs too short", "ghs_" + strings.Repeat("a", 35), nil},
		{"english", "the light was high and bright: gh_ ghx_", nil},
		{"at end of input", "x " + ghp, []hit{{ghp, token.KindClassicPAT, ChecksumValid}}},
		{"two on a line", ghp + "," + ghu, []hit{{ghp, token.KindClassicPAT, ChecksumValid}, {ghu, token.KindAppUser, ChecksumValid}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []hit
			for _, m := range findTokens([]byte(tt.in)) {
				got = append(got, hit{tt.in[m.start:m.end], m.kind, m.checksum})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findTokens (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	ghp, pat := gen(token.KindClassicPAT), gen(token.KindFineGrained)
	legacy := strings.Repeat("0123456789", 3) + "abcdef1234"
	tests := []struct {
		kind  token.Kind
		value string
		want  string
	}{
		{token.KindClassicPAT, ghp, "ghp_…" + ghp[36:]},
		{token.KindFineGrained, pat, "github_pat_…" + pat[89:]},
		{token.KindUnknown, legacy, "…1234"},
		{token.KindClassicPAT, "ghp_short", "ghp_…"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := redact(tt.kind, tt.value); got != tt.want {
				t.Errorf("redact = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsBinary(t *testing.T) {
	if !isBinary([]byte("PNG\x00\x01")) || isBinary([]byte("plain text\n")) || isBinary(append([]byte(strings.Repeat("a", 9000)), 0)) {
		t.Fatal("isBinary: NUL in the first 8000 bytes only")
	}
}
