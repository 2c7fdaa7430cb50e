package awsaccounts

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Policy is an IAM policy document as IAM states it (the JSON grammar of
// the IAM User Guide, "IAM JSON policy elements reference"), written in a
// world file as YAML or JSON: {Version, Statement: [{Sid, Effect, Principal,
// Action, Resource, Condition}]}. The emulator evaluates the part rotor's
// world needs: Allow and Deny (an explicit Deny wins), Action and Resource
// with IAM's * and ? wildcards, Principal {AWS: …} or "*", and the
// conditions StringEquals/StringLike on sts:ExternalId. Anything else is
// refused when the world is loaded, so a policy never means less than it
// says.
type Policy struct {
	Version   string      `yaml:"Version,omitempty" json:"Version,omitempty"`
	Statement []Statement `yaml:"Statement" json:"Statement"`
}

// Statement is one statement of a Policy.
type Statement struct {
	Sid       string                           `yaml:"Sid,omitempty" json:"Sid,omitempty"`
	Effect    string                           `yaml:"Effect" json:"Effect"`
	Principal *Principal                       `yaml:"Principal,omitempty" json:"Principal,omitempty"`
	Action    StringList                       `yaml:"Action,omitempty" json:"Action,omitempty"`
	Resource  StringList                       `yaml:"Resource,omitempty" json:"Resource,omitempty"`
	Condition map[string]map[string]StringList `yaml:"Condition,omitempty" json:"Condition,omitempty"`
}

// Principal is a statement's Principal: "*" or {AWS: [...], Service: [...]}.
type Principal struct {
	Any     bool       `yaml:"-" json:"-"`
	AWS     StringList `yaml:"AWS,omitempty" json:"AWS,omitempty"`
	Service StringList `yaml:"Service,omitempty" json:"Service,omitempty"`
}

// UnmarshalYAML takes "*" or a mapping.
func (p *Principal) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		if s != "*" {
			return fmt.Errorf("Principal %q: write \"*\" or {AWS: [...]}", s)
		}
		p.Any = true
		return nil
	}
	type plain Principal
	return unmarshal((*plain)(p))
}

func (p *Principal) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "*" {
			return fmt.Errorf("Principal %q: write \"*\" or {AWS: [...]}", s)
		}
		p.Any = true
		return nil
	}
	type plain Principal
	return json.Unmarshal(b, (*plain)(p))
}

func (p Principal) MarshalJSON() ([]byte, error) {
	if p.Any {
		return []byte(`"*"`), nil
	}
	type plain Principal
	return json.Marshal(plain(p))
}

// StringList is IAM's "a string or a list of strings".
type StringList []string

func (l *StringList) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		*l = StringList{s}
		return nil
	}
	var ss []string
	if err := unmarshal(&ss); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = ss
	return nil
}

func (l *StringList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = StringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = ss
	return nil
}

// Condition operators and keys the emulator evaluates.
var (
	supportedOperators = []string{"StringEquals", "StringLike"}
	supportedKeys      = []string{"sts:ExternalId"}
)

// validate refuses what the emulator would not evaluate faithfully.
// trust says whether the document is a role's trust policy (Principal
// required) or a permission policy (Principal forbidden, Resource required).
func (p *Policy) validate(trust bool) error {
	if len(p.Statement) == 0 {
		return errors.New("a policy needs at least one Statement")
	}
	for i, st := range p.Statement {
		at := fmt.Sprintf("Statement[%d]", i)
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return fmt.Errorf("%s: Effect %q: want Allow or Deny", at, st.Effect)
		}
		if len(st.Action) == 0 {
			return fmt.Errorf("%s: Action is required", at)
		}
		switch {
		case trust && st.Principal == nil:
			return fmt.Errorf("%s: a trust policy's statement names a Principal", at)
		case !trust && st.Principal != nil:
			return fmt.Errorf("%s: a permission policy has no Principal (it is attached to the role)", at)
		case !trust && len(st.Resource) == 0:
			return fmt.Errorf("%s: Resource is required", at)
		}
		for op, kv := range st.Condition {
			if !slices.Contains(supportedOperators, op) {
				return fmt.Errorf("%s: Condition operator %s is not modelled (only %s)", at, op, strings.Join(supportedOperators, ", "))
			}
			for k := range kv {
				if !slices.Contains(supportedKeys, k) {
					return fmt.Errorf("%s: Condition key %s is not modelled (only %s)", at, k, strings.Join(supportedKeys, ", "))
				}
			}
		}
	}
	return nil
}

// request is what a policy is evaluated against.
type request struct {
	action, resource string
	principal        *Caller           // for trust policies
	context          map[string]string // condition keys: "sts:ExternalId"
}

// decide evaluates the document: an explicit Deny wins, then any Allow.
func (p *Policy) decide(r request) (allow, deny bool) {
	for _, st := range p.Statement {
		if !st.matches(r) {
			continue
		}
		if st.Effect == "Deny" {
			deny = true
		} else {
			allow = true
		}
	}
	return allow, deny
}

func (st *Statement) matches(r request) bool {
	if !slices.ContainsFunc(st.Action, func(a string) bool { return wildcard(strings.ToLower(a), strings.ToLower(r.action)) }) {
		return false
	}
	if len(st.Resource) > 0 && !slices.ContainsFunc(st.Resource, func(p string) bool { return wildcard(p, r.resource) }) {
		return false
	}
	if st.Principal != nil && (r.principal == nil || !st.Principal.matches(r.principal)) {
		return false
	}
	for op, kv := range st.Condition {
		for k, want := range kv {
			got, ok := r.context[k]
			if !ok {
				return false // a condition on an absent key does not match
			}
			if !slices.ContainsFunc(want, func(w string) bool {
				if op == "StringLike" {
					return wildcard(w, got)
				}
				return w == got
			}) {
				return false
			}
		}
	}
	return true
}

// matches reports whether the caller is one of the principal's: "*", the
// caller's own ARN, the account ("123456789012" or
// "arn:aws:iam::123456789012:root", which IAM reads as every principal of
// that account), or, for a role session, the role's ARN.
func (p *Principal) matches(c *Caller) bool {
	if p.Any {
		return true
	}
	for _, a := range p.AWS {
		switch a {
		case "*", c.Arn, c.Account, "arn:aws:iam::" + c.Account + ":root":
			return true
		}
		if c.RoleArn != "" && a == c.RoleArn {
			return true
		}
	}
	return false
}

// wildcard matches IAM's * (any run) and ? (one character).
func wildcard(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	// path.Match treats '/' specially and knows [ and \; IAM does not.
	esc := strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace(pattern)
	ok, err := path.Match(strings.ReplaceAll(esc, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}
