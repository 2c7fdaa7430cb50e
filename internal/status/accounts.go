package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// AccountBindings counts one AWS account × region's bindings of a run by
// status. A codepipeline target that spans accounts (accounts:,
// aws_organization:) puts "account" and "region" in its bindings' Attrs.
type AccountBindings struct {
	Account  string         `json:"account"`
	Region   string         `json:"region"`
	Bindings map[string]int `json:"bindings"` // status → how many
}

// ByAccount groups a run's bindings by account × region, sorted by
// account then region. It is nil unless the bindings span more than one
// account × region: for a single place the totals already say it all.
// Bindings with neither attribute (a file, a secret) are not counted.
func ByAccount(states []rotation.BindingState) []AccountBindings {
	byPlace := map[[2]string]map[string]int{}
	for _, st := range states {
		a, r := st.Binding.Attrs["account"], st.Binding.Attrs["region"]
		if a == "" && r == "" {
			continue
		}
		k := [2]string{a, r}
		if byPlace[k] == nil {
			byPlace[k] = map[string]int{}
		}
		byPlace[k][string(st.Status)]++
	}
	if len(byPlace) < 2 {
		return nil
	}
	out := make([]AccountBindings, 0, len(byPlace))
	for k, n := range byPlace {
		out = append(out, AccountBindings{Account: k[0], Region: k[1], Bindings: n})
	}
	slices.SortFunc(out, func(a, b AccountBindings) int {
		return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(a.Region, b.Region))
	})
	return out
}

// CountsLabel is the bindings by status, statuses in order: "998
// verified, 2 waiting".
func (a AccountBindings) CountsLabel() string {
	statuses := make([]string, 0, len(a.Bindings))
	for st := range a.Bindings {
		statuses = append(statuses, st)
	}
	slices.Sort(statuses)
	counts := make([]string, len(statuses))
	for i, st := range statuses {
		counts[i] = fmt.Sprintf("%d %s", a.Bindings[st], st)
	}
	return strings.Join(counts, ", ")
}
