package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/token"
)

// maxBody bounds request bodies; the API takes only small JSON objects.
const maxBody = 64 << 10

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/credentials", s.authed(s.listCredentials))
	m.HandleFunc("GET /v1/credentials/{name}", s.authed(s.getCredential))
	m.HandleFunc("GET /v1/credentials/{name}/runs", s.authed(s.listRuns))
	m.HandleFunc("POST /v1/credentials/{name}/rotate", s.authed(s.rotate))
	m.HandleFunc("GET /v1/credentials/{name}/timeline.svg", s.authed(s.chart("timeline")))
	m.HandleFunc("GET /v1/credentials/{name}/activity.svg", s.authed(s.chart("activity")))
	m.HandleFunc("GET /v1/credentials/{name}/bindings.svg", s.authed(s.chart("bindings")))
	m.HandleFunc("GET /v1/charts/bindings.svg", s.authed(s.chart("overview")))
	m.HandleFunc("GET /v1/audit", s.authed(s.listAudit))
	m.HandleFunc("/v1/", s.authed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	}))
	m.Handle("GET /metrics", s.authed(s.m.handler().ServeHTTP))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("/", dashboard())
	s.mux = m
}

// CredentialView is one credential as the API and the dashboard show it:
// the status view, the daemon's own knowledge, and precomputed numbers and
// labels. It holds fingerprints, never tokens.
type CredentialView struct {
	Name        string            `json:"name"`
	Application string            `json:"application,omitempty"`
	Source      string            `json:"source"`
	CanMint     bool              `json:"can_mint"` // false: a person rotates it with 'rotor rotate'
	Current     *rotation.Version `json:"current,omitempty"`
	Previous    *rotation.Version `json:"previous,omitempty"`
	AgeSeconds  *float64          `json:"age_seconds,omitempty"`
	ExpiresIn   *float64          `json:"expires_in_seconds,omitempty"`
	DueAt       *time.Time        `json:"due_at,omitempty"`
	DueIn       *float64          `json:"due_in_seconds,omitempty"`
	DueNow      bool              `json:"due_now"`
	DueReason   string            `json:"due_reason,omitempty"`
	LastRun     *rotation.Run     `json:"last_run,omitempty"`
	OpenRun     *rotation.Run     `json:"open_run,omitempty"`
	Bindings    int               `json:"bindings"`
	Verified    int               `json:"bindings_verified"`
	Failures    int               `json:"failures_since_success"`
	// Stragglers are bindings still on the previous version, waiting for
	// their pipeline to be idle; the previous token is not retired until
	// they move.
	Stragglers  []status.Straggler `json:"stragglers,omitempty"`
	Interrupted int                `json:"interrupted_executions,omitempty"` // by the newest run, by policy
	// Accounts are status's: where the newest run's bindings span AWS
	// accounts or regions, each account × region's bindings by status.
	Accounts []status.AccountBindings `json:"accounts,omitempty"`
	Healthy  bool                     `json:"healthy"` // no binding unhealthy (see Health), token not refused, nothing drifted
	// Health is the one health model: the dashboard shows it as it comes,
	// and /metrics counts the same bindings.
	Health   Health `json:"health"`
	InFlight bool   `json:"in_flight"`
	RunID    int64  `json:"in_flight_run_id,omitempty"`
	Waiting  string `json:"waiting_for,omitempty"` // a person must act: PersonalTokenDue, WaitingForToken, NeedsAdoption
	// LastError is the daemon's newest failure, shown only while no run
	// (by this or any other process) has finished since.
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt *time.Time   `json:"last_error_at,omitempty"`
	Watch       *WatchResult `json:"watch,omitempty"`
	Labels      Labels       `json:"labels"`
	// Revocations are status's: old tokens queued for GitHub's revocation
	// API, tokens alive after their revocation, the newest revocation of a
	// token's access to an organisation.
	Revocations *status.Revocations `json:"revocations,omitempty"`
	// Warnings are status's: what a person should know or do (a lost
	// grant, a token an organisation's maximum lifetime blocks, a token
	// alive after its revocation).
	Warnings []string `json:"warnings,omitempty"`
}

// Labels are the human forms `rotor status` prints.
type Labels struct {
	Current  string `json:"current"`
	Age      string `json:"age"`
	Expires  string `json:"expires"`
	Due      string `json:"due"`
	LastRun  string `json:"last_run"`
	Bindings string `json:"bindings"`
	// Revocations is `rotor status`'s line on them; "" when none.
	Revocations string `json:"revocations,omitempty"`
}

func (s *Server) view(cc config.Credential, v status.Credential) CredentialView {
	cs := s.snapshot(cc.Name)
	now := v.Now
	p := status.Policy(cc)
	d := decide(p, v, flags{Broken: cs.Broken, Requested: cs.Requested, Failures: cs.Failures, LastFailure: cs.LastFailure}, now)
	out := CredentialView{
		Name: v.Name, Application: v.Application, Source: v.Source, CanMint: canMint(v.Source),
		Current: v.Current, Previous: v.Previous, LastRun: v.LastRun, OpenRun: v.OpenRun,
		Bindings: v.Bindings, Verified: v.Healthy, Failures: v.Failures, Stragglers: v.Stragglers, Interrupted: v.Interrupted, Accounts: v.Accounts,
		InFlight: cs.InFlight, RunID: cs.RunID, Waiting: cs.Remind, Watch: cs.Watch, Revocations: v.Revocations, Warnings: v.Warnings,
		Labels: Labels{Current: v.CurrentLabel(), Age: v.AgeLabel(), Expires: v.ExpiresLabel(), Due: v.DueLabel(), LastRun: v.LastRunLabel(), Bindings: v.BindingsLabel(),
			Revocations: v.RevocationsLabel()},
	}
	if v.Current != nil {
		out.AgeSeconds = ptr(now.Sub(v.Current.CreatedAt).Seconds())
		if !v.Current.ExpiresAt.IsZero() {
			out.ExpiresIn = ptr(v.Current.ExpiresAt.Sub(now).Seconds())
		}
	}
	dec := d.Decision
	if dec.Reason == "" && d.Remind == "" {
		dec = v.Due
	}
	if dec.Reason != "" && dec.At.Year() < 9999 {
		at := dec.At
		if dec.NotBefore.After(at) {
			at = dec.NotBefore
		}
		out.DueAt, out.DueIn = &at, ptr(at.Sub(now).Seconds())
		out.DueNow, out.DueReason = dec.Due(now), dec.Reason
	}
	if d.Remind != "" {
		out.DueNow, out.DueReason = true, d.Reason
		out.Labels.Due = "waiting for a person (" + d.Remind + ")"
	}
	out.Health = assess(v, cs)
	out.Healthy = out.Health.healthy()
	out.Bindings, out.Verified = len(out.Health.Bindings), out.Health.Counts[status.Healthy]
	counted := v
	counted.Bindings, counted.Healthy = out.Bindings, out.Verified
	out.Labels.Bindings = counted.BindingsLabel()
	if cs.LastError != "" && !newerRun(v, cs.ErrorAt) {
		at := cs.ErrorAt.UTC()
		out.LastError, out.LastErrorAt = cs.LastError, &at
	}
	return out
}

// newerRun reports whether a run started or finished after t: an error
// from before it is history, and the run shows its own outcome.
func newerRun(v status.Credential, t time.Time) bool {
	if v.OpenRun != nil && v.OpenRun.StartedAt.After(t) {
		return true
	}
	return v.LastRun != nil && v.LastRun.FinishedAt.After(t)
}

func ptr(f float64) *float64 { f = math.Round(f*1000) / 1000; return &f }

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now().UTC()
	all, err := status.Collect(r.Context(), s.cfg, s.deps.Store, now)
	if err != nil {
		s.storeUnavailable(w, err)
		return
	}
	out := make([]CredentialView, 0, len(all))
	for i, v := range all {
		out = append(out, s.view(s.cfg.Credentials[i], v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": out, "time": now})
}

// CredentialDetail is GET /v1/credentials/{name}: the view, every version
// (by fingerprint), the bindings of the newest run, each binding in
// detail, and the newest runs with their steps.
type CredentialDetail struct {
	CredentialView
	Versions       []rotation.Version      `json:"versions"`
	Runs           []RunView               `json:"recent_runs"`
	Binding        []rotation.BindingState `json:"bindings_of_newest_run"`
	BindingDetails []BindingDetail         `json:"binding_details"`
}

// RunView is a run with its bindings' states.
type RunView struct {
	rotation.Run
	DurationSeconds float64                 `json:"duration_seconds,omitempty"`
	Bindings        []rotation.BindingState `json:"bindings,omitempty"`
	// Steps are the run's audit records, oldest first (on the credential
	// page, from the newest records of the chain).
	Steps []audit.Record `json:"steps,omitempty"`
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*config.Credential, bool) {
	name := r.PathValue("name")
	cc, ok := s.cfg.Credential(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no credential named "+strconv.Quote(name)+" in the config")
	}
	return cc, ok
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request) {
	cc, ok := s.lookup(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	v, err := status.One(ctx, *cc, s.deps.Store, s.opts.Now().UTC())
	if err != nil {
		s.storeUnavailable(w, err)
		return
	}
	out := CredentialDetail{CredentialView: s.view(*cc, v)}
	if out.Versions, err = s.deps.Store.Versions(ctx, cc.Name); err != nil {
		s.storeUnavailable(w, err)
		return
	}
	if out.Runs, err = s.runs(ctx, cc.Name, 20); err != nil {
		s.storeUnavailable(w, err)
		return
	}
	if err := s.steps(ctx, out.Runs); err != nil {
		s.storeUnavailable(w, err)
		return
	}
	if len(out.Runs) > 0 {
		out.Binding = out.Runs[0].Bindings
	}
	out.BindingDetails = bindingDetails(out.Health, out.Runs)
	if out.Versions == nil {
		out.Versions = []rotation.Version{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) runs(ctx context.Context, name string, limit int) ([]RunView, error) {
	runs, err := s.deps.Store.Runs(ctx, name, limit)
	if err != nil && !errors.Is(err, rotation.ErrNotFound) {
		return nil, err
	}
	out := make([]RunView, 0, len(runs))
	for _, run := range runs {
		rv := RunView{Run: run}
		if !run.FinishedAt.IsZero() {
			rv.DurationSeconds = math.Round(run.FinishedAt.Sub(run.StartedAt).Seconds()*1000) / 1000
		}
		if rv.Bindings, err = s.deps.Store.Bindings(ctx, run.ID); err != nil {
			return nil, err
		}
		out = append(out, rv)
	}
	return out, nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	cc, ok := s.lookup(w, r)
	if !ok {
		return
	}
	limit, ok := intParam(w, r, "limit", 20, 1, 500)
	if !ok {
		return
	}
	runs, err := s.runs(r.Context(), cc.Name, int(limit))
	if err != nil {
		s.storeUnavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": cc.Name, "runs": runs})
}

// rotateRequest is the optional body of POST …/rotate.
type rotateRequest struct {
	Reason string `json:"reason,omitempty"` // logged, for the person reading the log later
}

func (s *Server) rotate(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	cc, ok := s.lookup(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "rotor serve is shutting down")
		return
	}
	v, err := status.One(ctx, *cc, s.deps.Store, s.opts.Now().UTC())
	if err != nil {
		s.storeUnavailable(w, err)
		return
	}
	cs := s.snapshot(cc.Name)
	switch {
	case cs.InFlight:
		writeJSON(w, http.StatusConflict, map[string]any{"error": "a run of " + cc.Name + " is in flight", "run_id": cs.RunID})
		return
	case !canMint(cc.Source.Type):
		a := reminder(*cc, v, action{Remind: ReasonPersonalTokenDue, Reason: "Requested"})
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":        cc.Name + " is a personal-token credential: GitHub has no API to create personal tokens, so rotor serve cannot rotate it",
			"instructions": a.Message,
			"command":      "rotor rotate " + cc.Name,
		})
		return
	case v.Current == nil && v.OpenRun == nil:
		a := reminder(*cc, v, action{Remind: ReasonNeedsAdoption})
		writeJSON(w, http.StatusConflict, map[string]any{"error": "rotor knows no current token for " + cc.Name, "instructions": a.Message})
		return
	}
	wait := make(chan int64, 1)
	s.update(cc.Name, func(c *credState) {
		c.Requested = true
		c.waiters = append(c.waiters, wait)
	})
	// The reason is free text from the network: a token pasted into it must
	// not reach the log.
	s.log.Info("rotation requested through the API", "credential", cc.Name, "reason", token.RedactText(req.Reason), "remote", r.RemoteAddr)
	s.wake()
	out := map[string]any{"credential": cc.Name, "status": "queued", "runs": "/v1/credentials/" + cc.Name + "/runs"}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case id, ok := <-wait:
		if ok && id != 0 {
			out["status"], out["run_id"] = "started", id
		}
	case <-t.C:
	case <-ctx.Done():
	}
	writeJSON(w, http.StatusAccepted, out)
}

// AuditPage is GET /v1/audit.
type AuditPage struct {
	Records []audit.Record `json:"records"`
	Head    int64          `json:"head"`
}

// listAudit returns records after ?after= (default: the newest ?limit=).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(w, r, "limit", 100, 1, 1000)
	if !ok {
		return
	}
	after, ok := intParam(w, r, "after", -1, 0, math.MaxInt64)
	if !ok {
		return
	}
	ctx := r.Context()
	if after < 0 {
		_, head, err := s.deps.Store.Audit(ctx, math.MaxInt64, 1)
		if err != nil {
			s.storeUnavailable(w, err)
			return
		}
		after = max(0, head.Seq-limit)
	}
	recs, head, err := s.deps.Store.Audit(ctx, after, int(limit))
	if err != nil {
		s.storeUnavailable(w, err)
		return
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	writeJSON(w, http.StatusOK, AuditPage{Records: recs, Head: head.Seq})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	reason := ""
	switch {
	case s.draining.Load():
		reason = "shutting down"
	case !s.ready.Load():
		reason = "starting: resuming open runs"
	default:
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.deps.Store.Credentials(ctx); err != nil {
			// Unauthenticated: a fixed text, the error only in the log (a
			// DSN, a host name or a path is nobody else's business).
			s.m.storeError()
			s.log.Warn("not ready: the store does not answer", "err", err)
			reason = "store unreachable"
		}
	}
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) storeUnavailable(w http.ResponseWriter, err error) {
	s.m.storeError()
	s.log.Error("API: read store", "err", err)
	writeError(w, http.StatusServiceUnavailable, "the store is unavailable; try again: "+err.Error())
}

// intParam parses an optional integer query parameter within [lo, hi],
// answering 400 when it is malformed.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int64) (int64, bool) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, true
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < lo || n > hi {
		writeError(w, http.StatusBadRequest, "query parameter "+name+"="+strconv.Quote(raw)+": want a whole number from "+strconv.FormatInt(lo, 10)+" to "+strconv.FormatInt(hi, 10))
		return 0, false
	}
	return n, true
}

// decodeBody reads an optional JSON object strictly: unknown fields,
// trailing data and anything but an object are 400s.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "request body: want a JSON object like {\"reason\": \"…\"}: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "request body: trailing data after the JSON object")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
