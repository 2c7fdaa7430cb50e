package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rotor-ci/rotor/internal/status"
)

// Overall health states of a credential, worst last but one: rotating and
// needs_person say what is going on rather than how bad it is.
const (
	StateHealthy     = "healthy"      // every binding healthy, token works, nothing failed since
	StateDegraded    = "degraded"     // works, but stragglers wait or runs failed (cleanly) since the last success
	StateUnhealthy   = "unhealthy"    // a binding failed or drifted, or GitHub refuses the token
	StateRotating    = "rotating"     // a run is in flight
	StateNeedsPerson = "needs_person" // a person must act (personal token due, adoption)
	StateMigrated    = "migrated"     // rotor migrate moved it to a connection: no token left to rotate
)

// Health is a credential's health. assess computes it, once, for the API,
// the dashboard (which shows it as it comes) and /metrics.
type Health struct {
	State   string   `json:"state"`
	Summary string   `json:"summary"` // one line for people
	Reasons []string `json:"reasons,omitempty"`
	// Bindings is every binding with its health: the newest run's, with
	// what the watcher saw since laid over them (drift makes a binding
	// unhealthy; a binding the watcher found that no run wrote is one too).
	Bindings []AssessedBinding `json:"bindings,omitempty"`
	// Counts are Bindings by health; every state is present.
	Counts map[status.Health]int `json:"counts"`
	// TokenBroken: the watcher's last check of the current token failed
	// because GitHub refused it.
	TokenBroken bool `json:"token_broken,omitempty"`
}

// AssessedBinding is one binding's health, and why when it is not healthy.
type AssessedBinding struct {
	ID     string        `json:"id"`
	Target string        `json:"target"`
	Health status.Health `json:"health"`
	Status string        `json:"status,omitempty"` // its state in the newest run; "" when no run wrote it
	Detail string        `json:"detail,omitempty"`
}

// assess is the one health function. The watcher's view of the bindings
// counts only when it is not older than the newest run (a run since has
// rewritten them), and its view of the token only while that token is
// still the current one.
func assess(v status.Credential, cs credState) Health {
	h := Health{Counts: map[status.Health]int{}}
	for _, st := range status.HealthStates {
		h.Counts[st] = 0
	}
	w := freshWatch(v, cs.Watch)
	index := map[string]int{}
	for _, b := range v.Each {
		index[b.ID] = len(h.Bindings)
		h.Bindings = append(h.Bindings, AssessedBinding{ID: b.ID, Target: b.Target, Health: b.Health, Status: string(b.Status)})
	}
	if w != nil {
		for _, wb := range w.Bindings {
			if wb.State == HealthOK || wb.State == HealthUnknown {
				continue
			}
			detail := wb.State
			if wb.Detail != "" {
				detail += ": " + wb.Detail
			}
			i, ok := index[wb.ID]
			if !ok {
				i = len(h.Bindings)
				h.Bindings = append(h.Bindings, AssessedBinding{ID: wb.ID, Target: wb.Target})
			}
			h.Bindings[i].Health, h.Bindings[i].Detail = status.Unhealthy, detail
		}
	}
	h.TokenBroken = tokenState(v, cs.Watch) == HealthBroken
	// problems make the credential unhealthy; the other reasons only
	// degrade it.
	var problems []string
	if h.TokenBroken {
		problems = append(problems, "GitHub refuses the current token "+v.Current.Fingerprint)
	}
	for _, b := range h.Bindings {
		h.Counts[b.Health]++
		if b.Health == status.Unhealthy {
			why := b.Detail
			if why == "" {
				why = b.Status
			}
			problems = append(problems, b.ID+" "+why)
		}
	}
	n := len(h.Bindings)
	h.Reasons = problems
	waiting := h.Counts[status.Waiting]
	if waiting > 0 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("%d binding(s) waiting for their pipeline, on the previous token", waiting))
	}
	if v.Failures > 0 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("%d run(s) failed since the last success", v.Failures))
	}
	verified := fmt.Sprintf("%d/%d bindings healthy", h.Counts[status.Healthy], n)
	switch {
	case v.Migrated && !cs.InFlight && v.OpenRun == nil:
		h.State, h.Summary = StateMigrated, fmt.Sprintf("migrated to a CodeConnections connection (run #%d): no token to rotate", v.MigratedBy)
		h.Reasons = nil
	case cs.InFlight || v.OpenRun != nil:
		h.State, h.Summary = StateRotating, "rotating"
		if id := max(cs.RunID, runID(v)); id != 0 {
			h.Summary += fmt.Sprintf(" (run #%d)", id)
		}
	case cs.Remind != "":
		h.State, h.Summary = StateNeedsPerson, "needs a person: "+cs.Remind
	case len(problems) > 0:
		h.State, h.Summary = StateUnhealthy, "unhealthy: "+strings.Join(problems, "; ")
	case waiting > 0 || v.Failures > 0:
		h.State, h.Summary = StateDegraded, verified+"; "+strings.Join(h.Reasons, "; ")
	default:
		h.State, h.Summary = StateHealthy, "healthy"
		if n > 0 {
			h.Summary += ": " + verified
		}
	}
	return h
}

// healthy: no binding is unhealthy and the token works. Rotating,
// waiting and a clean rollback are all healthy in this sense.
func (h Health) healthy() bool { return !h.TokenBroken && h.Counts[status.Unhealthy] == 0 }

// freshWatch is w unless a run has finished (or opened) since it looked.
func freshWatch(v status.Credential, w *WatchResult) *WatchResult {
	if w == nil || v.OpenRun != nil {
		return nil
	}
	if r := v.LastRun; r != nil && r.FinishedAt.After(w.At) {
		return nil
	}
	return w
}

// tokenState is what the watcher last said of the current token ("" when
// it has not looked at this one yet: a run since replaced it).
func tokenState(v status.Credential, w *WatchResult) string {
	if w == nil || v.Current == nil || w.Token.Fingerprint != v.Current.Fingerprint {
		return ""
	}
	return w.Token.State
}

func runID(v status.Credential) int64 {
	if v.OpenRun != nil {
		return v.OpenRun.ID
	}
	return 0
}

// byTarget groups h's bindings' health by target type, for /metrics.
func (h Health) byTarget() map[string]map[status.Health]int {
	out := map[string]map[status.Health]int{}
	for _, b := range h.Bindings {
		m := out[b.Target]
		if m == nil {
			m = map[status.Health]int{}
			for _, st := range status.HealthStates {
				m[st] = 0
			}
			out[b.Target] = m
		}
		m[b.Health]++
	}
	return out
}

// targets are the target types of h's bindings, sorted.
func (h Health) targets() []string {
	var out []string
	for _, b := range h.Bindings {
		if !slices.Contains(out, b.Target) {
			out = append(out, b.Target)
		}
	}
	slices.Sort(out)
	return out
}
