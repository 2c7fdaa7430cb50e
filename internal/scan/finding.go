package scan

import (
	"fmt"

	"github.com/rotor-ci/rotor/internal/token"
)

// Rule names what a finding is about.
type Rule string

const (
	// RuleToken is a GitHub token anywhere in a file.
	RuleToken Rule = "token"
	// RulePipelineJSON is a pipeline declaration (get-pipeline output, or
	// update-pipeline input made from it) whose OAuthToken holds a real value
	// instead of CodePipeline's "****" mask.
	RulePipelineJSON Rule = "pipeline-json"
	// RuleCFNLiteral is a CloudFormation (or CDK-synthesised) template whose
	// OAuthToken is a literal instead of a {{resolve:secretsmanager:…}} or
	// {{resolve:ssm-secure:…}} dynamic reference.
	RuleCFNLiteral Rule = "cfn-literal-oauthtoken"
)

// Rules lists every rule, in the order SARIF declares them.
var Rules = []Rule{RuleToken, RulePipelineJSON, RuleCFNLiteral}

// Known is what rotor's store says about a found token.
type Known string

const (
	KnownCurrent  Known = "current"  // the version every binding holds now
	KnownPending  Known = "pending"  // minted by a rotation still running
	KnownPrevious Known = "previous" // replaced, still valid until retired
	KnownRetired  Known = "retired"  // revoked (or handed to a person to delete)
	KnownRejected Known = "rejected" // a person's token that rotor refused and left alone
	KnownUnknown  Known = "unknown"  // the store has no version with this fingerprint
	// KnownUnchecked means no store was consulted (scan without a config).
	KnownUnchecked Known = "unchecked"
)

// Checksum is the result of checking a token's built-in checksum.
type Checksum string

const (
	ChecksumValid   Checksum = "valid"   // a 40-character kind whose CRC32 matches
	ChecksumInvalid Checksum = "invalid" // shape matches, checksum does not: likely a false positive
	ChecksumNone    Checksum = "none"    // the kind has no public checksum (github_pat_, ghs_), or no prefix at all
)

// Finding is one thing found at one place. It never holds a token value.
type Finding struct {
	Path   string `json:"path"`
	Line   int    `json:"line"`   // 1-based
	Column int    `json:"column"` // 1-based, in Unicode code points
	Rule   Rule   `json:"rule"`
	// Kind is the token's kind; empty for an OAuthToken value with no GitHub
	// prefix (a pre-2021 40-hex token, say).
	Kind        token.Kind `json:"kind"`
	Redacted    string     `json:"redacted"` // prefix + "…" + last 4 characters
	Fingerprint string     `json:"fingerprint"`
	Checksum    Checksum   `json:"checksum"`
	Known       Known      `json:"known"`
	Credential  string     `json:"credential,omitempty"` // the credential rotor holds this version for
	Version     int64      `json:"version,omitempty"`    // that version's sequence number
	Advice      string     `json:"advice"`
	// Live is whether GitHub accepted the token when asked (--live); nil if
	// it was not asked.
	Live      *bool  `json:"live,omitempty"`
	LiveError string `json:"live_error,omitempty"`
}

// LikelyFalsePositive reports a token-shaped string whose checksum fails:
// test data, or a token damaged in copying. It is reported, not hidden.
func (f Finding) LikelyFalsePositive() bool { return f.Checksum == ChecksumInvalid }

// KindName is the kind for people: "ghp", "github_pat", or "legacy" for an
// OAuthToken value with no prefix.
func (f Finding) KindName() string {
	if f.Kind == token.KindUnknown {
		return "legacy"
	}
	return string(f.Kind)
}

// advice tells a person what to do about f, from what f is and what rotor
// knows of it.
func advice(f Finding) string {
	switch f.Rule {
	case RulePipelineJSON:
		return "delete this file: a pipeline declaration with a real OAuthToken (the seed procedure's last step); " + knownAdvice(f)
	case RuleCFNLiteral:
		return "use a dynamic reference ('{{resolve:secretsmanager:SECRET:SecretString:FIELD}}') instead of the literal, and treat the token as exposed (it stays in the template's history); " + knownAdvice(f)
	}
	if f.LikelyFalsePositive() {
		return "checksum does not match: likely a false positive (test data, or a token damaged in copying)"
	}
	return "remove it from this file; " + knownAdvice(f)
}

func knownAdvice(f Finding) string {
	cred := f.Credential
	switch f.Known {
	case KnownCurrent:
		return fmt.Sprintf("it is %s's live token: rotate it now (rotor rotate %s)", cred, cred)
	case KnownPending:
		return fmt.Sprintf("a rotation of %s minted it: let it finish, then rotate again (rotor rotate %s)", cred, cred)
	case KnownPrevious:
		return fmt.Sprintf("it is %s's previous token, valid until rotor retires it after the grace period", cred)
	case KnownRetired:
		return fmt.Sprintf("it is %s's retired token: dead, but every scanner will keep flagging it", cred)
	case KnownRejected:
		return fmt.Sprintf("rotor refused it for %s and left it alone: revoke it in GitHub if nobody needs it", cred)
	}
	if f.Checksum == ChecksumInvalid {
		return "its checksum does not match, so it may not be a real token"
	}
	return "rotor does not manage it: if it works, move it into a secret store and revoke this copy"
}

// redact is prefix + "…" + the last 4 characters, as the issue asks. Values
// too short to spare 4 characters (placeholders, mostly) show only the
// prefix.
func redact(kind token.Kind, value string) string {
	prefix := ""
	if kind != token.KindUnknown {
		prefix = kind.Prefix()
	}
	if len(value)-len(prefix) < 16 {
		return prefix + "…"
	}
	return prefix + "…" + value[len(value)-4:]
}
