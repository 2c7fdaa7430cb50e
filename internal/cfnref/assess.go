package cfnref

import (
	"fmt"
	"strings"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target/secretsmanager"
	"github.com/rotor-ci/rotor/internal/target/ssm"
)

// Finding is what rotor plan says about one CloudFormation-managed action.
type Finding struct {
	Stack string `json:"stack"`
	Found bool   `json:"found"` // the stack's template declares the pipeline
	Ref   Ref    `json:"ref"`
	// Holder is the ID of the credential's binding that rotates the secret
	// or parameter the stack reads; empty when none does.
	Holder string `json:"holder,omitempty"`
	// Safe: rotor rotates what the stack reads before the action, so the
	// next stack update resolves to the token the pipeline already holds.
	Safe     bool     `json:"safe"`
	Notes    []string `json:"notes,omitempty"`    // what was found and why it is safe
	Warnings []string `json:"warnings,omitempty"` // what is not safe, and what to do
}

// Assess says whether rotating action (a codepipeline binding whose
// pipeline stack manages) is safe, given what Find returned for it (ref,
// found) and every binding of the same credential in apply order (config
// order; action among them). Pure: no AWS call.
func Assess(stack string, ref Ref, found bool, action rotation.Binding, bindings []rotation.Binding) Finding {
	f := Finding{Stack: stack, Found: found, Ref: ref}
	if !found {
		f.Warnings = append(f.Warnings, fmt.Sprintf("%s belongs to CloudFormation stack %s, whose template does not declare it (a nested or parent stack?): rotating it makes the stack drift, and a stack update can put the old token back", action.ID, stack))
		return f
	}
	f.Warnings = append(f.Warnings, ref.Warnings...)
	switch ref.Kind {
	case KindSecretsManager:
		f.assessHolder(action, bindings, fmt.Sprintf("secret %s", describeSecret(ref)), secretsmanager.Type,
			func(b rotation.Binding) bool { return sameSecret(ref, b) },
			func(b rotation.Binding) string {
				if b.Attrs[secretsmanager.AttrJSONKey] != ref.JSONKey {
					return fmt.Sprintf("%s writes %s of the secret, but stack %s reads %s: make json_key %s", b.ID, keyName(b.Attrs[secretsmanager.AttrJSONKey]), stack, keyName(ref.JSONKey), orWhole(ref.JSONKey))
				}
				return ""
			},
			fmt.Sprintf("- type: secretsmanager\n  secret_id: %s%s", ref.SecretID, ifSet("\n  json_key: ", ref.JSONKey)))
	case KindSSM:
		if !ref.Secure {
			return f // its warning says why (a plain String cannot hold a token)
		}
		f.assessHolder(action, bindings, fmt.Sprintf("SecureString parameter %s", ref.Param), ssm.Type,
			func(b rotation.Binding) bool {
				return b.Attrs[ssm.AttrName] == ref.Param && (ref.Region == "" || b.Attrs[ssm.AttrRegion] == ref.Region)
			},
			func(rotation.Binding) string { return "" },
			fmt.Sprintf("- type: ssm\n  name: %s", ref.Param))
	}
	return f
}

// assessHolder finds the binding that rotates what the stack reads and
// checks that it comes before the action and that the reference follows it.
func (f *Finding) assessHolder(action rotation.Binding, bindings []rotation.Binding, what, typ string,
	match func(rotation.Binding) bool, mismatch func(rotation.Binding) string, snippet string) {
	actionAt, holderAt := len(bindings), -1
	for i, b := range bindings {
		if b.ID == action.ID {
			actionAt = i
		}
	}
	for i, b := range bindings {
		if b.Target != typ || !match(b) {
			continue
		}
		if m := mismatch(b); m != "" {
			f.Warnings = append(f.Warnings, m)
			continue
		}
		if holderAt < 0 {
			holderAt = i
		}
	}
	if holderAt < 0 {
		f.Warnings = append(f.Warnings, fmt.Sprintf("stack %s reads OAuthToken of %s from %s, which this credential does not rotate: the next stack update would put the old token back on the pipeline, and rotor revokes that token once the grace period ends; add this target before the codepipeline target:\n%s", f.Stack, action.ID, what, snippet))
		return
	}
	holder := bindings[holderAt]
	f.Holder = holder.ID
	f.Notes = append(f.Notes, fmt.Sprintf("stack %s sets OAuthToken of %s to %s: CloudFormation reads %s only when the stack is updated", f.Stack, action.ID, f.Ref.Text, what))
	if holderAt > actionAt {
		f.Warnings = append(f.Warnings, fmt.Sprintf("%s comes after %s in the config: list the %s target before the codepipeline target, so that a stack update during the rotation resolves to the new token, not the old one", holder.ID, action.ID, typ))
		return
	}
	if f.Ref.Pinned() {
		return // its warning says why
	}
	f.Safe = true
	f.Notes = append(f.Notes, fmt.Sprintf("rotor writes %s first, then the pipeline's action, in one run (and rolls both back together): the next stack update resolves to the token the pipeline already holds, so the drift is harmless", holder.ID))
}

// sameSecret reports whether binding b (a secretsmanager binding) is the
// secret ref names: by full ARN, by partial ARN (without the six-character
// suffix Secrets Manager adds), or by name in the stack's region.
func sameSecret(ref Ref, b rotation.Binding) bool {
	arn, name := b.Attrs[secretsmanager.AttrARN], b.Attrs[secretsmanager.AttrName]
	id := ref.SecretID
	if strings.HasPrefix(id, "arn:") {
		if id == arn {
			return true
		}
		rest, ok := strings.CutPrefix(arn, id+"-")
		return ok && len(rest) == 6
	}
	if ref.Region != "" && b.Attrs[secretsmanager.AttrRegion] != ref.Region {
		return false
	}
	if ref.Account != "" && arn != "" && !strings.Contains(arn, ":"+ref.Account+":") {
		return false
	}
	return id == name
}

func describeSecret(r Ref) string {
	if r.JSONKey == "" {
		return r.SecretID
	}
	return fmt.Sprintf("%s (key %s)", r.SecretID, r.JSONKey)
}

func keyName(k string) string {
	if k == "" {
		return "the whole string"
	}
	return "key " + k
}

func orWhole(k string) string {
	if k == "" {
		return "empty"
	}
	return k
}

func ifSet(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}
