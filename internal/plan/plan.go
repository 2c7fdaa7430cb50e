// Package plan answers "what would a rotation touch?" without changing
// anything: every binding each credential's targets find, and the warnings a
// careful person would want first (a token shared between applications, an
// action bound by two credentials, GitHub actions rotor does not hold,
// CloudFormation-managed pipelines, tokens about to expire or blocked by an
// organisation's maximum lifetime).
package plan

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/migrate"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

// Credential is one credential's plan.
type Credential struct {
	Name        string             `json:"name"`
	Application string             `json:"application,omitempty"`
	Source      string             `json:"source"`
	Current     string             `json:"current,omitempty"` // fingerprint
	Bindings    []rotation.Binding `json:"bindings"`
	Error       string             `json:"error,omitempty"` // discovery failed
	// CloudFormation says, for each stack-managed pipeline, what its
	// template reads the token from and whether rotating is safe.
	CloudFormation []cfnref.Finding `json:"cloudformation,omitempty"`
	// Migration lists the GitHub (version 1) actions that rotor migrate
	// could move off the token, and what blocks each (Input.Migration).
	Migration *migrate.MigrationPlan `json:"migration,omitempty"`
	// Revocation is how its old token will be revoked, route by route
	// (Routes).
	Revocation []Route `json:"revocation"`
}

// Warning is something to look at before rotating.
type Warning struct {
	// Kind says what to look at (docs/bindings.md#what-plan-warns-about):
	// Shared, DoubleBound, SharedPipeline, Unmanaged (a GitHub action no
	// credential rotates), InventoryIncomplete (the actions could not all
	// be listed, so Unmanaged may miss some), CloudFormation, Expiring,
	// SameToken, Source, MaxLifetime (an organisation's maximum lifetime
	// blocks the current token), Revocation (a token alive after its
	// revocation, an organisation's revocation that failed, a fine-grained
	// token of an organisation without org_revoke), Migration, Binding.
	Kind       string `json:"kind"`
	Credential string `json:"credential,omitempty"`
	Binding    string `json:"binding,omitempty"`
	Message    string `json:"message"`
}

// Report is the whole plan.
type Report struct {
	Credentials []Credential `json:"credentials"`
	Warnings    []Warning    `json:"warnings"`
}

// Input is one credential to plan: its config and its built form.
type Input struct {
	Config config.Credential
	Built  rotation.Credential
	// Migration, if set, is the credential as rotor migrate sees it: the
	// plan then lists what a migration would move.
	Migration *migrate.Credential
}

// Options are what Build needs beyond the inputs.
type Options struct {
	// CloudFormation returns a client for the account and region of a
	// credential's target (by index), to read the templates of
	// CloudFormation-managed pipelines; nil skips that check.
	CloudFormation func(ctx context.Context, c config.Credential, target int) (cfnref.API, error)
}

// pipelines is implemented by targets whose bindings are actions of
// pipelines (codepipeline): plan warns about pipelines that several
// credentials hold actions of, about actions no credential holds, and reads
// the templates of the stacks that manage them.
type pipelines interface {
	// PipelineAction says which action of which pipeline binding b is;
	// ok is false for a binding that is not the target's.
	PipelineAction(b rotation.Binding) (cfnref.PipelineAction, bool)
	// PipelineActions lists every action in the target's reach that reads
	// GitHub with a token, held or not. Read-only.
	PipelineActions(ctx context.Context) ([]cfnref.PipelineAction, error)
}

// Build discovers every binding of every input and collects the warnings.
// It calls only read APIs.
func Build(ctx context.Context, st status.Reader, in []Input, now time.Time, o Options) Report {
	r := Report{Credentials: []Credential{}, Warnings: []Warning{}} // [] in JSON, never null
	owners := map[string][]string{}                                 // binding ID → credentials
	pipelineOwners := map[string]map[string]bool{}                  // pipeline ARN → credentials
	pipelineNames := map[string]string{}
	current := map[string][]string{}
	inventory := map[string]cfnref.PipelineAction{}
	for _, c := range in {
		cp := Credential{Name: c.Config.Name, Application: c.Config.Application, Source: c.Config.Source.Type, Bindings: []rotation.Binding{}}
		s, err := status.One(ctx, c.Config, st, now)
		if err == nil {
			blocked := status.LifetimeWarning(c.Config, s.Current)
			revocation := s.Revocations.Warnings()
			for _, msg := range s.Warnings {
				kind := "Source"
				switch {
				case msg == blocked:
					kind = "MaxLifetime"
				case slices.Contains(revocation, msg):
					kind = "Revocation"
				}
				r.warn(Warning{Kind: kind, Credential: cp.Name, Message: msg})
			}
		}
		cp.Revocation = Routes(c.Config, s.Current)
		if err == nil && s.Current != nil {
			cp.Current = s.Current.Fingerprint
			current[cp.Current] = append(current[cp.Current], cp.Name)
			if exp := s.Current.ExpiresAt; !exp.IsZero() && exp.Sub(now) < c.Config.Rotate.RenewBefore.D() {
				r.warn(Warning{Kind: "Expiring", Credential: cp.Name, Message: fmt.Sprintf("the current token expires in %s (renew_before %s)", status.Human(exp.Sub(now)), c.Config.Rotate.RenewBefore)})
			}
		}
		slotOf := map[string]int{}
		for i, t := range c.Built.Targets {
			bs, err := t.Discover(ctx)
			if err != nil {
				cp.Error = strings.TrimPrefix(cp.Error+"; "+err.Error(), "; ")
			}
			for _, b := range bs {
				slotOf[b.ID] = i
			}
			cp.Bindings = append(cp.Bindings, bs...)
			if inv, ok := t.(pipelines); ok {
				all, err := inv.PipelineActions(ctx)
				if err != nil {
					r.warn(Warning{Kind: "InventoryIncomplete", Credential: cp.Name, Message: "could not list every GitHub action, so actions no credential rotates may be missing from this plan: " + err.Error()})
				}
				for _, a := range all {
					inventory[a.BindingID] = a
				}
			}
		}
		if c.Migration != nil {
			mp, err := migrate.Plan(ctx, *c.Migration, nil, cp.Current)
			if err != nil {
				r.warn(Warning{Kind: "Migration", Credential: cp.Name, Message: "could not plan a migration: " + err.Error()})
			} else if len(mp.Actions) > 0 {
				cp.Migration = &mp
			}
		}
		resources := map[string]string{} // pipeline ARN → name
		slot := func(b rotation.Binding) int { return slotOf[b.ID] }
		holds := cfnref.HoldsOf(c.Built.Targets, slot)
		for _, b := range cp.Bindings {
			owners[b.ID] = append(owners[b.ID], cp.Name)
			var pa cfnref.PipelineAction
			isAction := false
			if pt, ok := c.Built.Targets[slot(b)].(pipelines); ok {
				pa, isAction = pt.PipelineAction(b)
			}
			if isAction {
				name := pa.Pipeline
				resources[b.Resource] = name
				if pipelineOwners[b.Resource] == nil {
					pipelineOwners[b.Resource] = map[string]bool{}
				}
				pipelineOwners[b.Resource][cp.Name] = true
				pipelineNames[b.Resource] = name
			}
			stack := pa.Stack
			for _, w := range b.Warnings {
				if stack != "" && o.CloudFormation != nil && strings.Contains(w, "CloudFormation") {
					continue // replaced by the finding below, which says whether it is safe
				}
				r.warn(Warning{Kind: "Binding", Credential: cp.Name, Binding: b.ID, Message: w})
			}
			if stack != "" && o.CloudFormation != nil {
				r.cloudFormation(ctx, o, c.Config, slot(b), b, pa, cp.Bindings, holds, &cp)
			}
		}
		if msg := orgRevokeMissing(c.Config, s.Current, cp.Bindings); msg != "" {
			r.warn(Warning{Kind: "Revocation", Credential: cp.Name, Message: msg})
		}
		if len(resources) > 1 {
			names := values(resources)
			r.warn(Warning{Kind: "Shared", Credential: cp.Name, Message: fmt.Sprintf("one token is used by %d pipelines (%s): AWS and GitHub advise one token per application; consider one credential each", len(names), strings.Join(names, ", "))})
		}
		r.Credentials = append(r.Credentials, cp)
	}
	for id, names := range owners {
		if len(names) > 1 {
			r.warn(Warning{Kind: "DoubleBound", Binding: id, Message: fmt.Sprintf("bound by %d credentials (%s): each rotation would overwrite the other's token", len(names), strings.Join(names, ", "))})
		}
	}
	for p, names := range pipelineOwners {
		if len(names) > 1 {
			r.warn(Warning{Kind: "SharedPipeline", Message: fmt.Sprintf("pipeline %s has GitHub actions of %d credentials (%s): each update carries the other credential's action through as read, and a rotation refuses the pipeline (before writing anything) while another of them is rotating", pipelineNames[p], len(names), strings.Join(keys(names), ", "))})
		}
	}
	for fp, names := range current {
		if len(names) > 1 {
			r.warn(Warning{Kind: "SameToken", Message: fmt.Sprintf("credentials %s hold the same token %s: one token per application", strings.Join(names, ", "), fp)})
		}
	}
	for id, a := range inventory {
		if len(owners[id]) == 0 {
			r.warn(Warning{Kind: "Unmanaged", Binding: id, Message: fmt.Sprintf("GitHub action in pipeline %s reads %s with a token rotor does not manage (a rotation of another action in that pipeline sends it back as read: AWS keeps its token)", a.Pipeline, a.Repository)})
		}
	}
	sort.SliceStable(r.Warnings, func(i, j int) bool {
		a, b := r.Warnings[i], r.Warnings[j]
		return a.Kind+a.Credential+a.Binding < b.Kind+b.Credential+b.Binding
	})
	return r
}

func (r *Report) warn(w Warning) { r.Warnings = append(r.Warnings, w) }

// cloudFormation reads the template of the stack that manages b's pipeline
// and says whether rotating b drifts the stack harmlessly (the stack reads
// the token from a secret or parameter this credential rotates first: a
// rotation writes it without allow_cloudformation_drift) or not (a rotation
// refuses it, before writing anything, unless the target allows the drift).
// It is what the codepipeline target's Vet decides during a run.
func (r *Report) cloudFormation(ctx context.Context, o Options, cc config.Credential, slot int, b rotation.Binding, pa cfnref.PipelineAction, all []rotation.Binding, holds cfnref.Holds, cp *Credential) {
	stack, pipeline := pa.Stack, pa.Pipeline
	allowed := slot < len(cc.Targets) && cc.Targets[slot].AllowCloudFormationDrift
	api, err := o.CloudFormation(ctx, cc, slot)
	var f cfnref.Finding
	if err == nil {
		var ref cfnref.Ref
		var found bool
		ref, found, err = cfnref.Find(ctx, api, stack, pipeline, pa.Stage, pa.Action)
		if err == nil {
			f = cfnref.Assess(stack, ref, found, b, all, holds)
		}
	}
	if err != nil {
		msg := fmt.Sprintf("pipeline %s is managed by stack %s and its template could not be read (%v): ", pipeline, stack, err)
		if allowed {
			msg += "allow_cloudformation_drift is set, so rotor rotates it and the stack drifts; the next stack update may put the old token back"
		} else {
			msg += "rotor cannot prove it safe and refuses it (before writing anything) until the target sets allow_cloudformation_drift: true"
		}
		r.warn(Warning{Kind: "CloudFormation", Credential: cp.Name, Binding: b.ID, Message: msg})
		return
	}
	cp.CloudFormation = append(cp.CloudFormation, f)
	switch {
	case f.Safe:
		f.Notes = append(f.Notes, "proven safe: a rotation writes it without allow_cloudformation_drift")
		cp.CloudFormation[len(cp.CloudFormation)-1] = f
	case allowed:
		r.warn(Warning{Kind: "CloudFormation", Credential: cp.Name, Binding: b.ID, Message: fmt.Sprintf("pipeline %s is managed by stack %s, not proven safe; allow_cloudformation_drift is set, so rotor rotates it and the stack drifts", pipeline, stack)})
	default:
		r.warn(Warning{Kind: "CloudFormation", Credential: cp.Name, Binding: b.ID, Message: fmt.Sprintf("pipeline %s is managed by stack %s, not proven safe: a rotation refuses it (before writing anything) until the stack reads the token from a secret or parameter this credential rotates first, or the target sets allow_cloudformation_drift: true", pipeline, stack)})
	}
	for _, w := range f.Warnings {
		r.warn(Warning{Kind: "CloudFormation", Credential: cp.Name, Binding: b.ID, Message: w})
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// values lists a map's values, sorted.
func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}
