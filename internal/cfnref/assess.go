package cfnref

import (
	"fmt"
	"strings"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// Held is what a binding holds that a stack template can read the token
// from: a Secrets Manager secret or an SSM parameter.
type Held struct {
	Kind   Kind   // KindSecretsManager or KindSSM
	Region string // where it lives
	ARN    string // the secret's or the parameter's ARN, when known
	Name   string // the secret's or the parameter's name
	// JSONKey is the key of the secret's JSON object the token is under;
	// empty: the whole secret string.
	JSONKey string
}

// Holder is implemented by targets whose bindings hold the token where a
// stack template can reference it (the secretsmanager and ssm targets).
// Held reads only the binding, so it answers for a binding of a resumed
// run as well; ok is false for a binding that is not the target's.
type Holder interface {
	Held(b rotation.Binding) (h Held, ok bool)
}

// Holds says what a binding holds; nil knows no holder.
type Holds func(b rotation.Binding) (Held, bool)

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
// found), every binding of the same credential in apply order (config
// order; action among them) and what each holds (holds, from the targets'
// Holder). Pure: no AWS call.
func Assess(stack string, ref Ref, found bool, action rotation.Binding, bindings []rotation.Binding, holds Holds) Finding {
	f := Finding{Stack: stack, Found: found, Ref: ref}
	if !found {
		f.Warnings = append(f.Warnings, fmt.Sprintf("%s belongs to CloudFormation stack %s, whose template does not declare it (a nested or parent stack?): rotating it makes the stack drift, and a stack update can put the old token back", action.ID, stack))
		return f
	}
	f.Warnings = append(f.Warnings, ref.Warnings...)
	switch ref.Kind {
	case KindSecretsManager:
		f.assessHolder(action, bindings, holds, fmt.Sprintf("secret %s", describeSecret(ref)), KindSecretsManager,
			func(h Held) bool { return sameSecret(ref, h) },
			func(b rotation.Binding, h Held) string {
				if h.JSONKey != ref.JSONKey {
					return fmt.Sprintf("%s writes %s of the secret, but stack %s reads %s: make json_key %s", b.ID, keyName(h.JSONKey), stack, keyName(ref.JSONKey), orWhole(ref.JSONKey))
				}
				return ""
			},
			fmt.Sprintf("- type: secretsmanager\n  secret_id: %s%s", ref.SecretID, ifSet("\n  json_key: ", ref.JSONKey)))
	case KindSSM:
		if !ref.Secure {
			return f // its warning says why (a plain String cannot hold a token)
		}
		f.assessHolder(action, bindings, holds, fmt.Sprintf("SecureString parameter %s", ref.Param), KindSSM,
			func(h Held) bool {
				return h.Name == ref.Param && (ref.Region == "" || h.Region == ref.Region)
			},
			func(rotation.Binding, Held) string { return "" },
			fmt.Sprintf("- type: ssm\n  name: %s", ref.Param))
	}
	return f
}

// assessHolder finds the binding that rotates what the stack reads and
// checks that it comes before the action and that the reference follows it.
func (f *Finding) assessHolder(action rotation.Binding, bindings []rotation.Binding, holds Holds, what string, kind Kind,
	match func(Held) bool, mismatch func(rotation.Binding, Held) string, snippet string) {
	actionAt, holderAt := len(bindings), -1
	for i, b := range bindings {
		if b.ID == action.ID {
			actionAt = i
		}
	}
	for i, b := range bindings {
		if holds == nil {
			break
		}
		h, ok := holds(b)
		if !ok || h.Kind != kind || !match(h) {
			continue
		}
		if m := mismatch(b, h); m != "" {
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
		f.Warnings = append(f.Warnings, fmt.Sprintf("%s comes after %s in the config: list the %s target before the codepipeline target, so that a stack update during the rotation resolves to the new token, not the old one", holder.ID, action.ID, kind))
		return
	}
	if f.Ref.Pinned() {
		return // its warning says why
	}
	f.Safe = true
	f.Notes = append(f.Notes, fmt.Sprintf("rotor writes %s first, then the pipeline's action, in one run (and rolls both back together): the next stack update resolves to the token the pipeline already holds, so the drift is harmless", holder.ID))
}

// sameSecret reports whether h (a secret a binding holds) is the secret ref
// names: by full ARN, by partial ARN (without the six-character suffix
// Secrets Manager adds), or by name in the stack's region.
func sameSecret(ref Ref, h Held) bool {
	arn, name := h.ARN, h.Name
	id := ref.SecretID
	if strings.HasPrefix(id, "arn:") {
		if id == arn {
			return true
		}
		rest, ok := strings.CutPrefix(arn, id+"-")
		return ok && len(rest) == 6
	}
	if ref.Region != "" && h.Region != ref.Region {
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

// HoldsOf answers Holds from a credential's targets: binding b came from
// targets[slot(b)], which says what b holds if it is a Holder.
func HoldsOf(targets []rotation.Target, slot func(rotation.Binding) int) Holds {
	return func(b rotation.Binding) (Held, bool) {
		i := slot(b)
		if i < 0 || i >= len(targets) {
			return Held{}, false
		}
		h, ok := targets[i].(Holder)
		if !ok {
			return Held{}, false
		}
		return h.Held(b)
	}
}

// PipelineAction is an action of a pipeline that reads GitHub with a
// token, as the target that writes it describes it: what Find looks for in
// a stack's template.
type PipelineAction struct {
	BindingID  string
	Pipeline   string
	Stage      string
	Action     string
	Stack      string // the CloudFormation stack that manages the pipeline; "" if none
	Repository string // owner/repo the action reads
}
