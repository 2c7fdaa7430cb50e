// Package plan answers "what would a rotation touch?" without changing
// anything: every binding each credential's targets find, and the warnings a
// careful person would want first (a token shared between applications, an
// action bound by two credentials, GitHub actions rotor does not hold,
// CloudFormation-managed pipelines, tokens about to expire).
package plan

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
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

// Inventorier is implemented by targets that can list every GitHub action
// in their account and region, held by rotor or not (codepipeline).
type Inventorier interface {
	Inventory(ctx context.Context) ([]rotation.Binding, error)
}

// Input is one credential to plan: its config and its built form.
type Input struct {
	Config config.Credential
	Built  rotation.Credential
}

// Build discovers every binding of every input and collects the warnings.
// It calls only read APIs.
func Build(ctx context.Context, st rotation.Store, in []Input, now time.Time) Report {
	var r Report
	owners := map[string][]string{} // binding ID → credentials
	current := map[string][]string{}
	inventory := map[string]rotation.Binding{}
	for _, c := range in {
		cp := Credential{Name: c.Config.Name, Application: c.Config.Application, Source: c.Config.Source.Type}
		if s, err := status.One(ctx, c.Config, st, now); err == nil && s.Current != nil {
			cp.Current = s.Current.Fingerprint
			current[cp.Current] = append(current[cp.Current], cp.Name)
			if exp := s.Current.ExpiresAt; !exp.IsZero() && exp.Sub(now) < c.Config.Rotate.RenewBefore.D() {
				r.warn(Warning{Kind: "Expiring", Credential: cp.Name, Message: fmt.Sprintf("the current token expires in %s (renew_before %s)", status.Human(exp.Sub(now)), c.Config.Rotate.RenewBefore)})
			}
		}
		for _, t := range c.Built.Targets {
			bs, err := t.Discover(ctx)
			if err != nil {
				cp.Error = strings.TrimPrefix(cp.Error+"; "+err.Error(), "; ")
				continue
			}
			cp.Bindings = append(cp.Bindings, bs...)
			if inv, ok := t.(Inventorier); ok {
				all, err := inv.Inventory(ctx)
				if err != nil {
					r.warn(Warning{Kind: "Unheld", Credential: cp.Name, Message: "could not list every GitHub action: " + err.Error()})
				}
				for _, b := range all {
					inventory[b.ID] = b
				}
			}
		}
		resources := map[string]bool{}
		for _, b := range cp.Bindings {
			owners[b.ID] = append(owners[b.ID], cp.Name)
			if b.Target == "codepipeline" {
				resources[b.Resource] = true
			}
			for _, w := range b.Warnings {
				r.warn(Warning{Kind: "Binding", Credential: cp.Name, Binding: b.ID, Message: w})
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
	for fp, names := range current {
		if len(names) > 1 {
			r.warn(Warning{Kind: "SameToken", Message: fmt.Sprintf("credentials %s hold the same token %s: one token per application", strings.Join(names, ", "), fp)})
		}
	}
	for id, b := range inventory {
		if len(owners[id]) == 0 {
			r.warn(Warning{Kind: "Unheld", Binding: id, Message: fmt.Sprintf("GitHub action in pipeline %s reads %s with a token rotor does not manage", b.Resource, strings.Join(b.Repositories, ", "))})
		}
	}
	sort.SliceStable(r.Warnings, func(i, j int) bool {
		a, b := r.Warnings[i], r.Warnings[j]
		return a.Kind+a.Credential+a.Binding < b.Kind+b.Credential+b.Binding
	})
	return r
}

func (r *Report) warn(w Warning) { r.Warnings = append(r.Warnings, w) }

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
