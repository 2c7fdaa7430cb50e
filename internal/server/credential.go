package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

// BindingDetail is one binding as the credential page shows it: its
// health, the version it holds, when it last switched and was last
// verified, and the newest pipeline execution rotor saw there.
type BindingDetail struct {
	AssessedBinding
	Resource string `json:"resource,omitempty"`
	// Holds is the version the binding holds (0: unknown, while a run is
	// open or after a write that failed and was not undone).
	Holds      int64      `json:"holds_seq,omitempty"`
	SwitchedAt *time.Time `json:"switched_at,omitempty"` // its newest change of token (a verified write or a rollback)
	VerifiedAt *time.Time `json:"verified_at,omitempty"` // its newest verification
	// LastExecution is the newest pipeline execution rotor's records name
	// for it (one it waited for, stopped, or verified with). rotor keeps no
	// execution history of its own; ExecutionNote says so, and where to
	// look, when the records name none.
	LastExecution *ExecutionSeen `json:"last_execution,omitempty"`
	ExecutionNote string         `json:"execution_note,omitempty"`
}

// ExecutionSeen is an execution a run's records name.
type ExecutionSeen struct {
	RunID int64     `json:"run_id"`
	At    time.Time `json:"at"`
	What  string    `json:"what"` // the record's words: "pipeline … is running execution …", "stopped e-1", an error
}

// stepsWindow bounds how far back the credential page looks in the audit
// chain for the steps of its runs.
const stepsWindow = 2000

// bindingDetails joins the assessed bindings with what recent runs
// recorded of each.
func bindingDetails(h Health, runs []RunView) []BindingDetail {
	out := make([]BindingDetail, 0, len(h.Bindings))
	for _, b := range h.Bindings {
		d := BindingDetail{AssessedBinding: b}
		seen := false
		for _, rv := range runs {
			j := slices.IndexFunc(rv.Bindings, func(st rotation.BindingState) bool { return st.Binding.ID == b.ID })
			if j < 0 {
				continue
			}
			st := rv.Bindings[j]
			if d.Resource == "" {
				d.Resource = st.Binding.Resource
			}
			if !seen { // its newest run says what it holds
				seen, d.Holds = true, holds(rv.Run, st.Status)
			}
			at := st.UpdatedAt
			if st.Status == rotation.BindingVerified && d.VerifiedAt == nil {
				d.VerifiedAt = &at
			}
			if (st.Status == rotation.BindingVerified || st.Status == rotation.BindingRolledBack) && d.SwitchedAt == nil {
				d.SwitchedAt = &at
			}
			if d.LastExecution == nil {
				if what := executionIn(st); what != "" {
					d.LastExecution = &ExecutionSeen{RunID: rv.ID, At: at, What: what}
				}
			}
		}
		if d.LastExecution == nil {
			d.ExecutionNote = "no execution in rotor's records of its recent runs: rotor keeps no pipeline execution history (see the pipeline's execution history in its own console)"
		}
		out = append(out, d)
	}
	return out
}

// holds is the version a binding in state b of run holds.
func holds(run rotation.Run, b rotation.BindingStatus) int64 {
	switch status.Classify(run.Status, b) {
	case status.Healthy:
		if b == rotation.BindingVerified {
			return run.NewSeq
		}
		return run.PrevSeq
	case status.Waiting:
		return run.PrevSeq
	}
	return 0
}

// executionIn is what a binding's state says of a pipeline execution.
func executionIn(st rotation.BindingState) string {
	if len(st.Interrupted) > 0 {
		return "stopped " + strings.Join(st.Interrupted, ", ")
	}
	for _, s := range []string{st.Note, st.Error} {
		if strings.Contains(s, "execution") {
			return s
		}
	}
	return ""
}

// steps attaches to each run the audit records of its steps, from the
// newest stepsWindow records of the chain.
func (s *Server) steps(ctx context.Context, runs []RunView) error {
	if len(runs) == 0 {
		return nil
	}
	_, head, err := s.deps.Store.Audit(ctx, math.MaxInt64, 1)
	if err != nil {
		return err
	}
	recs, _, err := s.deps.Store.Audit(ctx, max(0, head.Seq-stepsWindow), 0)
	if err != nil {
		return err
	}
	byRun := map[int64]int{}
	for i := range runs {
		byRun[runs[i].ID] = i
	}
	for _, r := range recs {
		if i, ok := byRun[r.RunID]; ok && r.Credential == runs[i].Credential {
			runs[i].Steps = append(runs[i].Steps, r)
		}
	}
	return nil
}

// chart serves the pictures of one credential, and of every credential's
// bindings.
func (s *Server) chart(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := s.opts.Now().UTC()
		if kind == "overview" {
			all, err := status.Collect(ctx, s.cfg, s.deps.Store, now)
			if err != nil {
				s.storeUnavailable(w, err)
				return
			}
			rows := make([]stateRow, 0, len(all))
			for i, v := range all {
				rows = append(rows, stateRow{label: v.Name, counts: s.view(s.cfg.Credentials[i], v).Health.Counts})
			}
			writeSVG(w, bindingsSVG("Bindings of every credential", rows))
			return
		}
		cc, ok := s.lookup(w, r)
		if !ok {
			return
		}
		var b []byte
		switch kind {
		case "timeline":
			versions, err := s.deps.Store.Versions(ctx, cc.Name)
			if err != nil {
				s.storeUnavailable(w, err)
				return
			}
			b = timelineSVG(cc.Name, versions, now)
		case "activity":
			runs, err := s.deps.Store.Runs(ctx, cc.Name, 200)
			if err != nil && !errors.Is(err, rotation.ErrNotFound) {
				s.storeUnavailable(w, err)
				return
			}
			b = activitySVG(cc.Name, runs, now)
		case "bindings":
			v, err := status.One(ctx, *cc, s.deps.Store, now)
			if err != nil {
				s.storeUnavailable(w, err)
				return
			}
			h := s.view(*cc, v).Health
			var rows []stateRow
			for _, t := range h.targets() {
				rows = append(rows, stateRow{label: t, counts: h.byTarget()[t]})
			}
			b = bindingsSVG("Bindings of "+cc.Name+" by target", rows)
		}
		writeSVG(w, b)
	}
}
