// Package plan answers "what would a rotation touch?" without changing
// anything: every binding each credential's targets find, and the warnings a
// careful person would want first (a token shared between applications, an
// action bound by two credentials, GitHub actions rotor does not hold,
// CloudFormation-managed pipelines, tokens about to expire).
package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/target/codepipeline"
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
}

// Warning is something to look at before rotating.
type Warning struct {
	Kind       string `json:"kind"` // Shared, DoubleBound, Unheld, CloudFormation, Expiring, SameToken
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
}

// Options are what Build needs beyond the inputs.
type Options struct {
	// CloudFormation returns a client for the account and region of a
	// credential's target (by index), to read the templates of
	// CloudFormation-managed pipelines; nil skips that check.
	CloudFormation func(ctx context.Context, c config.Credential, target int) (cfnref.API, error)
}

// Build discovers every binding of every input and collects the warnings.
// It calls only read APIs.
func Build(ctx context.Context, st rotation.Store, in []Input, now time.Time, o Options) Report {
	var r Report
	owners := map[string][]string{} // binding ID → credentials
	pipelineOwners := map[string]map[string]bool{}
	current := map[string][]string{}
	inventory := map[string]codepipeline.Action{}
	for _, c := range in {
		cp := Credential{Name: c.Config.Name, Application: c.Config.Application, Source: c.Config.Source.Type}
		if s, err := status.One(ctx, c.Config, st, now); err == nil && s.Current != nil {
			cp.Current = s.Current.Fingerprint
			current[cp.Current] = append(current[cp.Current], cp.Name)
			if exp := s.Current.ExpiresAt; !exp.IsZero() && exp.Sub(now) < c.Config.Rotate.RenewBefore.D() {
				r.warn(Warning{Kind: "Expiring", Credential: cp.Name, Message: fmt.Sprintf("the current token expires in %s (renew_before %s)", status.Human(exp.Sub(now)), c.Config.Rotate.RenewBefore)})
			}
		}
		slotOf := map[string]int{}
		var refused []rotation.Binding // CloudFormation-managed actions the target refuses
		for i, t := range c.Built.Targets {
			bs, err := t.Discover(ctx)
			err, cfnRefused := splitCloudFormation(err)
			if err != nil {
				cp.Error = strings.TrimPrefix(cp.Error+"; "+err.Error(), "; ")
			}
			for _, b := range bs {
				slotOf[b.ID] = i
			}
			cp.Bindings = append(cp.Bindings, bs...)
			if inv, ok := t.(*codepipeline.Target); ok {
				all, err := inv.Inventory(ctx)
				if err != nil {
					r.warn(Warning{Kind: "Unheld", Credential: cp.Name, Message: "could not list every GitHub action: " + err.Error()})
				}
				for _, a := range all {
					inventory[a.BindingID] = a
					if cfnRefused && a.Stack != "" && selects(c.Config.Targets[i], a) {
						b := rotation.Binding{ID: a.BindingID, Target: codepipeline.Type, Resource: a.Pipeline, Slot: i,
							Attrs: map[string]string{codepipeline.AttrStack: a.Stack, codepipeline.AttrPipeline: a.Pipeline, codepipeline.AttrStage: a.Stage, codepipeline.AttrAction: a.Action}}
						slotOf[b.ID] = i
						refused = append(refused, b)
						owners[b.ID] = append(owners[b.ID], cp.Name)
					}
				}
			}
		}
		for _, b := range refused {
			r.warn(Warning{Kind: "CloudFormation", Credential: cp.Name, Binding: b.ID, Message: fmt.Sprintf("pipeline %s is managed by stack %s: rotor refuses it until the target sets allow_cloudformation_drift: true (see the stack finding for whether that is safe)", b.Resource, b.Attrs[codepipeline.AttrStack])})
			if o.CloudFormation != nil {
				r.cloudFormation(ctx, o, c.Config, slotOf[b.ID], b, append(slices.Clone(cp.Bindings), refused...), &cp)
			}
		}
		resources := map[string]bool{}
		for _, b := range cp.Bindings {
			owners[b.ID] = append(owners[b.ID], cp.Name)
			if b.Target == codepipeline.Type {
				resources[b.Resource] = true
				if pipelineOwners[b.Resource] == nil {
					pipelineOwners[b.Resource] = map[string]bool{}
				}
				pipelineOwners[b.Resource][cp.Name] = true
			}
			stack := b.Attrs[codepipeline.AttrStack]
			for _, w := range b.Warnings {
				if stack != "" && o.CloudFormation != nil && strings.Contains(w, "CloudFormation") {
					continue // replaced by the finding below, which says whether it is safe
				}
				r.warn(Warning{Kind: "Binding", Credential: cp.Name, Binding: b.ID, Message: w})
			}
			if stack != "" && o.CloudFormation != nil {
				r.cloudFormation(ctx, o, c.Config, slotOf[b.ID], b, cp.Bindings, &cp)
			}
		}
		if len(resources) > 1 {
			names := keys(resources)
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
			r.warn(Warning{Kind: "SharedPipeline", Message: fmt.Sprintf("pipeline %s has GitHub actions of %d credentials (%s): rotor refuses to update it while another of them is rotating; rotations of these credentials should not overlap", p, len(names), strings.Join(keys(names), ", "))})
		}
	}
	for fp, names := range current {
		if len(names) > 1 {
			r.warn(Warning{Kind: "SameToken", Message: fmt.Sprintf("credentials %s hold the same token %s: one token per application", strings.Join(names, ", "), fp)})
		}
	}
	for id, a := range inventory {
		if len(owners[id]) == 0 {
			r.warn(Warning{Kind: "Unheld", Binding: id, Message: fmt.Sprintf("GitHub action in pipeline %s reads %s/%s with a token rotor does not manage", a.Pipeline, a.Owner, a.Repo)})
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
// the token from a secret or parameter this credential rotates first) or not.
func (r *Report) cloudFormation(ctx context.Context, o Options, cc config.Credential, slot int, b rotation.Binding, all []rotation.Binding, cp *Credential) {
	stack := b.Attrs[codepipeline.AttrStack]
	api, err := o.CloudFormation(ctx, cc, slot)
	var f cfnref.Finding
	if err == nil {
		var ref cfnref.Ref
		var found bool
		ref, found, err = cfnref.Find(ctx, api, stack, b.Attrs[codepipeline.AttrPipeline], b.Attrs[codepipeline.AttrStage], b.Attrs[codepipeline.AttrAction])
		if err == nil {
			f = cfnref.Assess(stack, ref, found, b, all)
		}
	}
	if err != nil {
		r.warn(Warning{Kind: "CloudFormation", Credential: cp.Name, Binding: b.ID, Message: fmt.Sprintf("pipeline is managed by stack %s and its template could not be read (%v): rotating it makes the stack drift; the next stack update may put the old token back", stack, err)})
		return
	}
	cp.CloudFormation = append(cp.CloudFormation, f)
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

// splitCloudFormation separates the target's refusals of CloudFormation-
// managed pipelines (which plan explains) from real discovery errors.
func splitCloudFormation(err error) (rest error, refused bool) {
	if err == nil {
		return nil, false
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var keep []error
	for _, e := range errs {
		if errors.Is(e, codepipeline.ErrCloudFormation) {
			refused = true
			continue
		}
		keep = append(keep, e)
	}
	return errors.Join(keep...), refused
}

// selects mirrors the codepipeline target's selection: named pipelines
// and/or a match on the repository (both: the named pipelines' matching
// actions).
func selects(t config.Target, a codepipeline.Action) bool {
	if len(t.Pipelines) > 0 && !slices.Contains(t.Pipelines, a.Pipeline) {
		return false
	}
	m := t.Match
	return (m.Owner == "" || strings.EqualFold(m.Owner, a.Owner)) &&
		(m.Repo == "" || strings.EqualFold(m.Repo, a.Repo)) &&
		(m.Branch == "" || m.Branch == a.Branch)
}
