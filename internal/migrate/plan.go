package migrate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// Planned is one version 1 action of a credential and what its move would
// do or what blocks it.
type Planned struct {
	Binding  rotation.Binding  `json:"-"`
	ID       string            `json:"binding"`
	Pipeline string            `json:"pipeline"`
	Action   string            `json:"action"` // stage/action
	Repo     string            `json:"repository"`
	Branch   string            `json:"branch"`
	V1       map[string]string `json:"-"`
	// Detect is the new action's DetectChanges: the version 1 action
	// polled, or a webhook started it.
	Detect bool `json:"detect_changes"`
	// Blockers keep the action on version 1; migrate refuses it.
	Blockers []string `json:"blockers,omitempty"`
	// Notes are what the move does besides (webhooks) or needs (the role).
	Notes    []string  `json:"notes,omitempty"`
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// Role and Statement: the role the action runs with and the policy
	// statement it needs. Not checked before the move (see docs/migrate.md).
	Role      string `json:"role,omitempty"`
	Statement string `json:"statement"`
	// Template is the resource change a CloudFormation stack must make
	// instead (Stack set).
	Stack    string `json:"stack,omitempty"`
	Template string `json:"template_change,omitempty"`
}

func (p Planned) webhookNames() []string {
	out := make([]string, len(p.Webhooks))
	for i, w := range p.Webhooks {
		out[i] = w.Name
	}
	return out
}

// MigrationPlan is every version 1 action of a credential.
type MigrationPlan struct {
	Credential string    `json:"credential"`
	Actions    []Planned `json:"actions"`
	// Others are the credential's targets that are not pipelines: the token
	// stays in use for them after every action moved.
	Others []string `json:"other_targets,omitempty"`
}

// Plan lists c's version 1 actions with what blocks each from moving to
// the connection of its account and region in conns (none: a placeholder
// ARN of that place is shown). current is the fingerprint of the
// credential's token, to spot a webhook whose secret is the token itself.
// Read-only.
func Plan(ctx context.Context, c Credential, conns map[Place]string, current string) (MigrationPlan, error) {
	mp := MigrationPlan{Credential: c.Name, Others: c.Others}
	for slot, p := range c.Pipelines {
		if p == nil {
			continue
		}
		bs, err := p.V1Actions(ctx)
		if err != nil {
			return mp, fmt.Errorf("%s: discover: %w", c.Name, err)
		}
		if len(bs) == 0 {
			continue
		}
		hooks, err := p.Webhooks(ctx)
		if err != nil {
			return mp, fmt.Errorf("%s: %w", c.Name, err)
		}
		for _, b := range bs {
			b.Slot = slot
			shown := conns[PlaceOf(b)]
			if shown == "" {
				pl := PlaceOf(b)
				shown = "arn:aws:codeconnections:" + cmp.Or(pl.Region, "REGION") + ":" + cmp.Or(pl.Account, "ACCOUNT") + ":connection/ID"
			}
			in, err := p.InspectMove(ctx, b, shown)
			if err != nil {
				return mp, fmt.Errorf("%s: %w", c.Name, err)
			}
			mp.Actions = append(mp.Actions, planned(b, in, hooks, shown, current))
		}
	}
	slices.SortFunc(mp.Actions, func(a, b Planned) int { return strings.Compare(a.ID, b.ID) })
	return mp, nil
}

func planned(b rotation.Binding, in Inspection, hooks []Webhook, connection, current string) Planned {
	a := b.Attrs
	p := Planned{Binding: b, ID: b.ID, Pipeline: a["pipeline"], Action: a["stage"] + "/" + a["action"],
		Repo: in.V1["Owner"] + "/" + in.V1["Repo"], Branch: in.V1["Branch"], V1: in.V1,
		Role: in.Role, Statement: UseConnectionStatement(connection), Stack: in.Stack}
	p.Detect = in.V1["PollForSourceChanges"] != "false"
	place := PlaceOf(b)
	for _, h := range hooks {
		if h.Pipeline != p.Pipeline || h.Action != a["action"] ||
			(h.Account != "" && h.Account != place.Account) || (h.Region != "" && h.Region != place.Region) {
			continue
		}
		p.Webhooks = append(p.Webhooks, h)
		p.Detect = true
		note := fmt.Sprintf("webhook %s: deregistered from GitHub before the move and deleted after it (the version 2 action detects pushes itself: DetectChanges true)", h.Name)
		if current != "" && h.SecretFingerprint == current {
			note += "; its secret is the token itself (" + current + "): another reason to retire the token"
		}
		p.Notes = append(p.Notes, note)
	}
	for _, r := range in.V1OnlyRefs {
		p.Blockers = append(p.Blockers, fmt.Sprintf("%s refers to a variable the version 2 action does not have (%s): change it first", r, strings.Join(V1OnlyVariables, ", ")))
	}
	if in.Stack != "" {
		v2, _ := json.Marshal(in.V2)
		p.Template = string(v2)
		p.Blockers = append(p.Blockers, fmt.Sprintf("managed by CloudFormation stack %s: the stack must make the change (an update by rotor drifts it); in the template, make the action %s and drop its OAuthToken", in.Stack, v2))
	}
	role := p.Role
	if role == "" {
		role = "the pipeline's service role"
	}
	p.Notes = append(p.Notes, fmt.Sprintf("role %s needs %s: rotor cannot read IAM policies, so the move is verified by an execution and put back on version 1 if the role lacks it", role, p.Statement))
	return p
}
