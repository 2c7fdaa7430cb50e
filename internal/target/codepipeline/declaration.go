package codepipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// The GitHub (version 1) source action and its configuration.
const (
	propOwner  = "Owner"
	propRepo   = "Repo"
	propBranch = "Branch"
	propToken  = "OAuthToken"
	propPoll   = "PollForSourceChanges"
	masked     = "****" // how GetPipeline shows every secret property
)

// ghAction is one GitHub v1 source action of a declaration.
type ghAction struct {
	stage, action       string
	owner, repo, branch string
	pollDisabled        bool // PollForSourceChanges is "false"
}

func (a ghAction) key() string { return a.stage + "/" + a.action }

func isGitHubV1(t *types.ActionTypeId) bool {
	return t != nil && t.Category == types.ActionCategorySource && t.Owner == types.ActionOwnerThirdParty &&
		deref(t.Provider) == "GitHub" && deref(t.Version) == "1"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// githubActions lists the GitHub v1 source actions of d in declaration order.
func githubActions(d *types.PipelineDeclaration) []ghAction {
	var out []ghAction
	for _, st := range d.Stages {
		for _, a := range st.Actions {
			if !isGitHubV1(a.ActionTypeId) {
				continue
			}
			c := a.Configuration
			out = append(out, ghAction{
				stage: deref(st.Name), action: deref(a.Name),
				owner: c[propOwner], repo: c[propRepo], branch: c[propBranch],
				pollDisabled: c[propPoll] == "false",
			})
		}
	}
	return out
}

// maskedElsewhere lists secret properties, other than GitHub v1 tokens, that
// the service showed as "****": an update would write "****" into them, and
// rotor holds nothing to put back.
func maskedElsewhere(d *types.PipelineDeclaration) []string {
	var out []string
	for _, st := range d.Stages {
		for _, a := range st.Actions {
			gh := isGitHubV1(a.ActionTypeId)
			for k, v := range a.Configuration {
				if v == masked && !(gh && k == propToken) {
					out = append(out, fmt.Sprintf("%s/%s (%s)", deref(st.Name), deref(a.Name), k))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// setTokens puts each planned token into its action, on copies of the
// configuration maps so that nothing else shares them.
func setTokens(d *types.PipelineDeclaration, plan map[string]string) {
	for i := range d.Stages {
		st := &d.Stages[i]
		for j := range st.Actions {
			a := &st.Actions[j]
			v, ok := plan[deref(st.Name)+"/"+deref(a.Name)]
			if !ok || !isGitHubV1(a.ActionTypeId) {
				continue
			}
			cfg := make(map[string]string, len(a.Configuration))
			for k, cv := range a.Configuration {
				cfg[k] = cv
			}
			cfg[propToken] = v
			a.Configuration = cfg
		}
	}
}

// The raw side. GetPipeline's response body, UpdatePipeline's request body
// and its response body are compared as JSON documents, not through the SDK's
// types, so that a member the SDK does not know cannot slip through.

// decodeMember returns one top-level member of a JSON object ("pipeline"),
// numbers kept exact.
func decodeMember(body []byte, member string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("decode %s: %w", member, err)
	}
	m, ok := top[member].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decode %s: no %q object", member, member)
	}
	return m, nil
}

// rawActions calls fn for each action object of a raw declaration.
func rawActions(p map[string]any, fn func(stage, action string, a map[string]any)) {
	stages, _ := p["stages"].([]any)
	for _, s := range stages {
		sm, _ := s.(map[string]any)
		actions, _ := sm["actions"].([]any)
		for _, a := range actions {
			am, ok := a.(map[string]any)
			if !ok {
				continue
			}
			sn, _ := sm["name"].(string)
			an, _ := am["name"].(string)
			fn(sn, an, am)
		}
	}
}

func rawIsGitHubV1(a map[string]any) bool {
	t, _ := a["actionTypeId"].(map[string]any)
	return t["category"] == "Source" && t["owner"] == "ThirdParty" && t["provider"] == "GitHub" && t["version"] == "1"
}

// rawTokens returns the OAuthToken of each GitHub v1 action, by stage/action.
func rawTokens(p map[string]any) map[string]string {
	out := map[string]string{}
	rawActions(p, func(stage, action string, a map[string]any) {
		if !rawIsGitHubV1(a) {
			return
		}
		cfg, _ := a["configuration"].(map[string]any)
		v, _ := cfg[propToken].(string)
		out[stage+"/"+action] = v
	})
	return out
}

// comparable returns p as compared for I4: every GitHub v1 token masked,
// the version left out (the service sets it), and empty members dropped
// (absent, null, [] and {} mean the same to the service). p is not changed.
func comparable(p map[string]any) any {
	c := prune(p).(map[string]any)
	delete(c, "version")
	rawActions(c, func(_, _ string, a map[string]any) {
		if !rawIsGitHubV1(a) {
			return
		}
		if cfg, ok := a["configuration"].(map[string]any); ok {
			if _, ok := cfg[propToken]; ok {
				cfg[propToken] = masked
			}
		}
	})
	return c
}

// prune copies v without null, empty arrays and empty objects.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if p := prune(e); !empty(p) {
				out[k] = p
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, prune(e)) // positions matter in arrays
		}
		return out
	}
	return v
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// digest identifies a comparable declaration (encoding/json sorts map keys).
func digest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unmarshalable:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// differences lists up to max paths where a and b differ, without values
// (they may be secrets).
func differences(a, b any, max int) []string {
	var out []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		if len(out) >= max {
			return
		}
		switch x := a.(type) {
		case map[string]any:
			y, ok := b.(map[string]any)
			if !ok {
				out = append(out, orRoot(path))
				return
			}
			keys := map[string]bool{}
			for k := range x {
				keys[k] = true
			}
			for k := range y {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			sort.Strings(sorted)
			for _, k := range sorted {
				p := k
				if path != "" {
					p = path + "." + k
				}
				xv, xok := x[k]
				yv, yok := y[k]
				if xok != yok {
					if len(out) < max {
						out = append(out, p)
					}
					continue
				}
				walk(p, xv, yv)
			}
		case []any:
			y, ok := b.([]any)
			if !ok || len(x) != len(y) {
				out = append(out, orRoot(path))
				return
			}
			for i := range x {
				walk(path+"["+strconv.Itoa(i)+"]", x[i], y[i])
			}
		default:
			if a != b {
				out = append(out, orRoot(path))
			}
		}
	}
	walk("", a, b)
	return out
}

func orRoot(p string) string {
	if p == "" {
		return "(the declaration)"
	}
	return p
}
