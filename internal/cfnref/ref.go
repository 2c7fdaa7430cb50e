package cfnref

import (
	"errors"
	"fmt"
	"strings"
)

// Kind says where a stack gets a pipeline action's OAuthToken.
type Kind string

const (
	// KindSecretsManager: {{resolve:secretsmanager:…}}.
	KindSecretsManager Kind = "secretsmanager"
	// KindSSM: {{resolve:ssm-secure:…}} (Secure) or {{resolve:ssm:…}}, or a
	// template parameter of type AWS::SSM::Parameter::Value<String>.
	KindSSM Kind = "ssm"
	// KindStackParameter: a Ref to one of the stack's own parameters
	// (usually NoEcho). The token lives in the stack, not in a secret.
	KindStackParameter Kind = "parameter"
	// KindLiteral: the template holds the token itself.
	KindLiteral Kind = "literal"
)

// Ref is what a stack's template says about one action's OAuthToken. It
// never holds a token value.
type Ref struct {
	Kind Kind `json:"kind"`

	// Secrets Manager (KindSecretsManager).
	SecretID     string `json:"secret_id,omitempty"`     // name, partial ARN or ARN, as written
	JSONKey      string `json:"json_key,omitempty"`      // empty: the whole SecretString
	VersionStage string `json:"version_stage,omitempty"` // empty: AWSCURRENT
	VersionID    string `json:"version_id,omitempty"`

	// SSM (KindSSM).
	Param        string `json:"param,omitempty"`
	ParamVersion string `json:"param_version,omitempty"` // empty: the latest
	Secure       bool   `json:"secure,omitempty"`        // ssm-secure (a SecureString)

	// Stack parameter (KindStackParameter).
	StackParameter string `json:"stack_parameter,omitempty"`
	NoEcho         bool   `json:"no_echo,omitempty"`

	// Literal is true when the template holds the token itself
	// (Kind == KindLiteral); LiteralFingerprint identifies it.
	Literal            bool   `json:"literal,omitempty"`
	LiteralFingerprint string `json:"literal_fingerprint,omitempty"`

	// Text is the dynamic reference as CloudFormation resolves it, after
	// Fn::Sub and Fn::Join (empty unless Kind is SecretsManager or SSM).
	Text string `json:"text,omitempty"`

	// Region and Account are the stack's (set by Find): where a secret
	// named without an ARN lives.
	Region  string `json:"region,omitempty"`
	Account string `json:"account,omitempty"`

	// Warnings are things rotor plan must say about this reference.
	Warnings []string `json:"warnings,omitempty"`
}

// Pinned reports whether the reference names a fixed version that a
// rotation will not move (a version stage other than AWSCURRENT, a version
// id, or an SSM parameter version).
func (r Ref) Pinned() bool {
	switch r.Kind {
	case KindSecretsManager:
		return r.VersionID != "" || (r.VersionStage != "" && r.VersionStage != stageCurrent)
	case KindSSM:
		return r.ParamVersion != ""
	}
	return false
}

const (
	refOpen      = "{{resolve:"
	refClose     = "}}"
	stageCurrent = "AWSCURRENT"
)

var (
	// ErrNotReference: the string is not a dynamic reference.
	ErrNotReference = errors.New("not a dynamic reference")
	// ErrMalformed: a dynamic reference that CloudFormation would refuse.
	ErrMalformed = errors.New("malformed dynamic reference")
	// ErrUnsupported: the template builds OAuthToken in a way rotor cannot
	// follow (an intrinsic other than Ref, Fn::Sub, Fn::Join, or a
	// reference mixed with other text).
	ErrUnsupported = errors.New("unsupported in a template")
	// ErrUnresolved: a name the template refers to has no known value
	// (a NoEcho parameter, an attribute).
	ErrUnresolved = errors.New("cannot resolve")
	// ErrNotDeclared: the stack declares the pipeline but not the stage,
	// action or OAuthToken that the live pipeline has.
	ErrNotDeclared = errors.New("not declared in the stack")
	// ErrTemplate: the template is neither JSON nor YAML CloudFormation.
	ErrTemplate = errors.New("cannot read template")
)

// HasReference reports whether s contains a dynamic reference.
func HasReference(s string) bool { return strings.Contains(s, refOpen) }

// Parse reads one dynamic reference that is the whole of s:
//
//	{{resolve:secretsmanager:SECRET_ID[:SecretString[:JSON_KEY[:VERSION_STAGE[:VERSION_ID]]]]}}
//	{{resolve:ssm-secure:NAME[:VERSION]}}
//	{{resolve:ssm:NAME[:VERSION]}}
//
// SECRET_ID is a name or an ARN (whose own colons are kept together).
// Warnings are set for references that will not follow a rotation. Errors
// never quote s: a malformed reference may hold a secret by mistake.
func Parse(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, refOpen) || !strings.HasSuffix(s, refClose) {
		if HasReference(s) {
			return Ref{}, fmt.Errorf("%w: a dynamic reference mixed with other text", ErrUnsupported)
		}
		return Ref{}, ErrNotReference
	}
	body := strings.TrimSuffix(strings.TrimPrefix(s, refOpen), refClose)
	if strings.Contains(body, "{{") || strings.Contains(body, "}}") {
		return Ref{}, fmt.Errorf("%w: more than one reference in one value", ErrUnsupported)
	}
	service, rest, _ := strings.Cut(body, ":")
	switch service {
	case "secretsmanager":
		return parseSecretsManager(rest, s)
	case "ssm-secure", "ssm":
		return parseSSM(rest, s, service == "ssm-secure")
	}
	return Ref{}, fmt.Errorf("%w: service %q (want secretsmanager, ssm-secure or ssm)", ErrMalformed, safeName(service))
}

func parseSecretsManager(rest, text string) (Ref, error) {
	parts := strings.Split(rest, ":")
	// An ARN is arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME.
	n := 1
	if parts[0] == "arn" {
		n = 7
		if len(parts) < n || parts[2] != "secretsmanager" || parts[5] != "secret" {
			return Ref{}, fmt.Errorf("%w: secretsmanager: secret ARN is not arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME", ErrMalformed)
		}
	}
	id := strings.Join(parts[:n], ":")
	if id == "" || parts[n-1] == "" {
		return Ref{}, fmt.Errorf("%w: secretsmanager: no secret id", ErrMalformed)
	}
	opt := parts[n:]
	if len(opt) > 4 {
		return Ref{}, fmt.Errorf("%w: secretsmanager: too many segments (secret-id:SecretString:json-key:version-stage:version-id)", ErrMalformed)
	}
	opt = append(opt, make([]string, 4-len(opt))...)
	if opt[0] != "" && opt[0] != "SecretString" {
		return Ref{}, fmt.Errorf("%w: secretsmanager: second segment must be SecretString", ErrMalformed)
	}
	r := Ref{Kind: KindSecretsManager, SecretID: id, JSONKey: opt[1], VersionStage: opt[2], VersionID: opt[3], Text: text}
	if r.VersionStage != "" && r.VersionID != "" {
		return Ref{}, fmt.Errorf("%w: secretsmanager: both a version stage and a version id", ErrMalformed)
	}
	switch {
	case r.VersionID != "":
		r.Warnings = append(r.Warnings, fmt.Sprintf("the reference pins secret %s to version id %s: the next stack update will put that version's token back, not the rotated one; drop the version id", r.SecretID, r.VersionID))
	case r.VersionStage != "" && r.VersionStage != stageCurrent:
		r.Warnings = append(r.Warnings, fmt.Sprintf("the reference pins secret %s to version stage %s: rotation moves AWSCURRENT, so the next stack update will not resolve to the rotated token; use AWSCURRENT or leave the stage out", r.SecretID, r.VersionStage))
	}
	return r, nil
}

func parseSSM(rest, text string, secure bool) (Ref, error) {
	parts := strings.Split(rest, ":")
	if len(parts) > 2 || parts[0] == "" {
		return Ref{}, fmt.Errorf("%w: ssm: want NAME or NAME:VERSION", ErrMalformed)
	}
	r := Ref{Kind: KindSSM, Param: parts[0], Secure: secure, Text: text}
	if len(parts) == 2 {
		if !isDigits(parts[1]) {
			return Ref{}, fmt.Errorf("%w: ssm: version must be a number", ErrMalformed)
		}
		r.ParamVersion = parts[1]
		r.Warnings = append(r.Warnings, fmt.Sprintf("the reference pins parameter %s to version %s: the next stack update will put that version's token back, not the rotated one; drop the version", r.Param, r.ParamVersion))
	}
	if !secure {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the reference reads parameter %s with {{resolve:ssm:…}}, which cannot read a SecureString: a token must not sit in a plain String parameter; store it as a SecureString and use {{resolve:ssm-secure:%s}}", r.Param, r.Param))
	}
	return r, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
