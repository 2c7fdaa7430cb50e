package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// getJSON reads an authenticated API path into v.
func getJSON(t *testing.T, s *Server, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// scrape returns /metrics as text.
func scrape(t *testing.T, s *Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	s.Handler().ServeHTTP(rec, req)
	return rec.Body.String()
}

// rotatedTwice is credential "app" with two bindings, rotated once.
func rotatedTwice(t *testing.T) (*harness, *Server) {
	t.Helper()
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.tgts["app"] = newTarget("app:binding-a", "app:binding-b")
	h.adopt("app")
	s := h.server(Options{})
	rotated(t, h, s, "app")
	return h, s
}

// firstCredential is the API's view of the first credential.
func firstCredential(t *testing.T, s *Server) CredentialView {
	t.Helper()
	var list struct {
		Credentials []CredentialView `json:"credentials"`
	}
	getJSON(t, s, "/v1/credentials", &list)
	return list.Credentials[0]
}

// A clean rollback leaves every binding on the current token: the API (and
// so the dashboard) and /metrics must say so alike. Before one health
// function served both, the API said "1/2 verified, unhealthy" (it counted
// the binding whose write was refused, and so never changed, as not
// verified) while /metrics, from the watcher, said 2 healthy.
func TestHealth_cleanRollbackAgreesEverywhere(t *testing.T) {
	h, s := rotatedTwice(t)
	h.tgts["app"].refuse = map[string]bool{"app:binding-b": true}
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background())
	s.jobs.Wait()
	if runs := h.runs("app"); runs[0].Status != rotation.RunRolledBack {
		t.Fatalf("newest run %s, want rolled_back", runs[0].Status)
	}
	s.watchOne(context.Background(), &h.cfg.Credentials[0])

	v := firstCredential(t, s)
	if !v.Healthy || v.Verified != v.Bindings {
		t.Errorf("API after a clean rollback: healthy %v, %d/%d verified; want healthy, 2/2", v.Healthy, v.Verified, v.Bindings)
	}
	// Not rotated, so not plain healthy either: degraded, and said why.
	if v.Health.State != StateDegraded || strings.Contains(v.Health.Summary, "unhealthy") || !strings.Contains(v.Health.Summary, "2/2 bindings healthy") {
		t.Errorf("health %q: %q; want degraded, 2/2 healthy", v.Health.State, v.Health.Summary)
	}
	m := scrape(t, s)
	for _, want := range []string{
		`rotor_bindings{credential="app",state="healthy",target="file"} 2`,
		`rotor_bindings{credential="app",state="unhealthy",target="file"} 0`,
		`rotor_credential_health{credential="app",state="degraded"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, `credential="app"`))
		}
	}
}

// Drift the watcher sees makes the binding unhealthy in the API and in
// /metrics alike; a run after the watcher looked supersedes what it saw.
func TestHealth_driftAgreesEverywhereUntilARunRewritesIt(t *testing.T) {
	h, s := rotatedTwice(t)
	h.tgts["app"].drift = map[string]string{"app:binding-b": "the action's token was edited by hand"}
	s.watchOne(context.Background(), &h.cfg.Credentials[0])

	v := firstCredential(t, s)
	if v.Healthy || v.Health.State != StateUnhealthy || !strings.Contains(v.Health.Summary, "app:binding-b broken: the action's token was edited by hand") {
		t.Errorf("after drift: healthy %v, %s %q", v.Healthy, v.Health.State, v.Health.Summary)
	}
	m := scrape(t, s)
	for _, want := range []string{`rotor_bindings{credential="app",state="unhealthy",target="file"} 1`, `rotor_credential_health{credential="app",state="unhealthy"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, `credential="app"`))
		}
	}

	// A newer run rewrites and verifies every binding: the old drift is
	// history until the watcher looks again.
	h.tgts["app"].drift = nil
	h.clock.Advance(time.Minute)
	c, _ := h.credFn(context.Background(), &h.cfg.Credentials[0])
	if _, err := h.eng.Rotate(context.Background(), c, rotation.Options{Trigger: "manual"}); err != nil {
		t.Fatal(err)
	}
	if v := firstCredential(t, s); !v.Healthy || v.Health.State != StateHealthy {
		t.Errorf("after a newer run: healthy %v, %s %q", v.Healthy, v.Health.State, v.Health.Summary)
	}
}

// Executions a run stops (in_flight: interrupt) are counted once each.
func TestMetrics_executionsStopped(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	s := h.server(Options{})
	h.tgts["app"].stops = map[string][]string{"app:binding-a": {"e-1", "e-2"}}
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background())
	s.jobs.Wait()
	if runs := h.runs("app"); runs[0].Status != rotation.RunSucceeded {
		t.Fatalf("run %s", runs[0].Status)
	}
	s.countStopped(context.Background(), "app", h.runs("app")[0].ID) // looked at again: counted once
	m := scrape(t, s)
	for _, want := range []string{`rotor_executions_stopped_total{credential="app",target="file"} 2`, `rotor_last_run_interrupted_executions{credential="app"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "stopped"))
		}
	}
}

// The last-run cell must not show an earlier run's error under a newer
// run: here run 1 fails in the daemon, and run 2 (by another process: the
// CLI, another replica) succeeds.
func TestHealth_staleErrorNotShownUnderNewerRun(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	s := h.server(Options{})
	h.tgts["app"].failNext = true
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background())
	s.jobs.Wait()
	if cs := s.snapshot("app"); cs.LastError == "" {
		t.Fatal("setup: the failed run left no error in the daemon")
	}
	h.clock.Advance(time.Minute)
	c, _ := h.credFn(context.Background(), &h.cfg.Credentials[0])
	if _, err := h.eng.Rotate(context.Background(), c, rotation.Options{Trigger: "manual"}); err != nil {
		t.Fatalf("rotate from another process: %v", err)
	}

	v := firstCredential(t, s)
	if v.LastRun == nil || v.LastRun.Status != rotation.RunSucceeded {
		t.Fatalf("last run %+v, want the succeeded one", v.LastRun)
	}
	if v.LastError != "" {
		t.Errorf("last_error %q is run %d's, shown under run %d", v.LastError, v.LastRun.ID-1, v.LastRun.ID)
	}
}

// A run that another process starts while the watcher looks makes what it
// saw the run's doing: no watch.drift in the audit log in the middle of
// the run, no alert (found by the torture run's I5).
func TestWatch_runStartedMeanwhileIsNotDrift(t *testing.T) {
	h, s := rotatedTwice(t)
	h.tgts["app"].drift = map[string]string{"app:binding-b": "holds the run's new token already"}
	h.tgts["app"].inspect = func() {
		err := h.st.Tx(context.Background(), func(tx rotation.Tx) error {
			_, err := tx.CreateRun(rotation.Run{Credential: "app", Trigger: "manual", Status: rotation.RunRunning, Step: rotation.StepStarted, StartedAt: h.clock.Now(), UpdatedAt: h.clock.Now()})
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}
	s.watchOne(context.Background(), &h.cfg.Credentials[0])
	recs, _, err := h.st.Audit(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Credential == "app" && r.Event == "watch.drift" {
			t.Fatalf("watch.drift recorded while a run that started meanwhile was open: %+v", r)
		}
	}
	if v := firstCredential(t, s); !v.Healthy && strings.Contains(v.Health.Summary, "holds the run's new token already") {
		t.Errorf("the run's doing reported as drift: %q", v.Health.Summary)
	}
}
