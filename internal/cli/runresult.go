package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// runResult is what rotor rotate reports: the run, the bindings still
// waiting for their pipeline, and the executions the run interrupted (by
// policy), place by place.
type runResult struct {
	rotation.Run
	Stragglers  []straggler         `json:"stragglers,omitempty"`
	Interrupted map[string][]string `json:"interrupted,omitempty"` // place (pipeline ARN) → execution ids
	// Accounts: where the bindings are in more than one AWS account or
	// region, how each account × region fared.
	Accounts []status.AccountBindings `json:"accounts,omitempty"`
}

// straggler is one binding still holding the previous version.
type straggler struct {
	Binding string    `json:"binding"`
	Status  string    `json:"status"` // waiting, or failed/refused since
	Since   time.Time `json:"since"`
	Why     string    `json:"why"`
}

func runResultOf(ctx context.Context, env *wiring.Env, run rotation.Run) (runResult, error) {
	res := runResult{Run: run}
	states, err := env.Store.Bindings(ctx, run.ID)
	if err != nil {
		return res, err
	}
	res.Accounts = status.ByAccount(states)
	for _, st := range states {
		for _, x := range st.Interrupted {
			if res.Interrupted == nil {
				res.Interrupted = map[string][]string{}
			}
			if !slices.Contains(res.Interrupted[st.Binding.Resource], x) {
				res.Interrupted[st.Binding.Resource] = append(res.Interrupted[st.Binding.Resource], x)
			}
		}
		if run.Status == rotation.RunSucceeded && st.Status != rotation.BindingVerified {
			why := st.Note
			if why == "" {
				why = st.Error
			}
			res.Stragglers = append(res.Stragglers, straggler{Binding: st.Binding.ID, Status: string(st.Status), Since: st.UpdatedAt, Why: why})
		}
	}
	return res, nil
}

// printAccountLines prints one line per account × region with its
// bindings by status; rotor rotate and rotor status say it alike.
func printAccountLines(w io.Writer, accounts []status.AccountBindings) {
	for _, a := range accounts {
		fmt.Fprintf(w, "  account\t%s %s\t%s\n", a.Account, a.Region, a.CountsLabel())
	}
}

// table prints the stragglers and interruptions under the run's line.
func (r runResult) table(w io.Writer) {
	places := make([]string, 0, len(r.Interrupted))
	for p := range r.Interrupted {
		places = append(places, p)
	}
	slices.Sort(places)
	printAccountLines(w, r.Accounts)
	for _, p := range places {
		fmt.Fprintf(w, "  interrupted\t%s\texecution %s (stopped by the update, as the target's policy allows)\n", p, strings.Join(r.Interrupted[p], ", "))
	}
	for _, s := range r.Stragglers {
		fmt.Fprintf(w, "  %s\t%s\tsince %s: %s\n", s.Status, s.Binding, s.Since.Local().Format(time.DateTime), s.Why)
	}
	if len(r.Stragglers) > 0 {
		fmt.Fprintf(w, "  %d binding(s) keep version %d until their pipeline is idle: 'rotor rotate %s --resume' waits for them, 'rotor serve' moves them on its next tick\n",
			len(r.Stragglers), r.PrevSeq, r.Credential)
	}
}

// err is the error that gives a run with stragglers exit code 4.
func (r runResult) err(name string) error {
	if len(r.Stragglers) == 0 {
		return nil
	}
	return &stragglersError{name: name, n: len(r.Stragglers), prev: r.PrevSeq}
}

type stragglersError struct {
	name string
	n    int
	prev int64
}

func (e *stragglersError) Error() string {
	return fmt.Sprintf("%s: %d binding(s) still hold version %d, waiting for their pipeline to be idle", e.name, e.n, e.prev)
}
