package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// rotated gives h's credential a succeeded run (the watcher's baseline).
func rotated(t *testing.T, h *harness, s *Server, name string) {
	t.Helper()
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background())
	s.jobs.Wait()
	if runs := h.runs(name); len(runs) == 0 || runs[0].Status != rotation.RunSucceeded {
		t.Fatalf("setup rotation failed: %+v", runs)
	}
}

func TestServer_watchOne(t *testing.T) {
	tests := []struct {
		name      string
		breakIt   func(h *harness)
		wantEvent string // "" for healthy
		wantState map[string]string
		wantToken string
	}{
		{name: "healthy", breakIt: func(*harness) {}, wantToken: HealthOK,
			wantState: map[string]string{"app:binding-a": HealthOK}},
		{name: "token revoked behind rotor's back", wantEvent: alert.EventTokenBroken, wantToken: HealthBroken,
			breakIt: func(h *harness) {
				vs, _ := h.st.Versions(context.Background(), "app")
				h.gh.kill(vs[0].Fingerprint)
			},
			wantState: map[string]string{"app:binding-a": HealthOK}},
		{name: "pipeline deleted", wantEvent: alert.EventBindingDrift, wantToken: HealthOK,
			breakIt:   func(h *harness) { h.tgts["app"].ids = []string{"app:binding-b"} },
			wantState: map[string]string{"app:binding-a": HealthMissing, "app:binding-b": HealthNew}},
		{name: "IDs changed form since the baseline was stored", wantToken: HealthOK,
			breakIt: func(h *harness) {
				h.tgts["app"].ids = []string{"app:123456789012:binding-a"}
				h.tgts["app"].aliases = map[string][]string{"app:123456789012:binding-a": {"app:binding-a"}}
			},
			wantState: map[string]string{"app:123456789012:binding-a": HealthOK}},
		{name: "source action failing", wantEvent: alert.EventBindingDrift, wantToken: HealthOK,
			breakIt: func(h *harness) {
				h.tgts["app"].drift = map[string]string{"app:binding-a": "last source action failed: Could not access the GitHub repository"}
			},
			wantState: map[string]string{"app:binding-a": HealthBroken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, cred("app", config.SourceGitHubApp))
			h.adopt("app")
			s := h.server(Options{})
			h.deliverAlerts(s)
			rotated(t, h, s, "app")
			tt.breakIt(h)

			s.watchOne(context.Background(), &h.cfg.Credentials[0])
			cs := s.snapshot("app")
			if cs.Watch == nil {
				t.Fatal("no watch result")
			}
			got := map[string]string{}
			for _, b := range cs.Watch.Bindings {
				got[b.ID] = b.State
			}
			if d := cmp.Diff(tt.wantState, got); d != "" {
				t.Errorf("binding states (-want +got):\n%s", d)
			}
			if cs.Watch.Token.State != tt.wantToken || cs.Watch.Token.Identity == "" && tt.wantToken == HealthOK {
				t.Errorf("token = %+v, want state %s", cs.Watch.Token, tt.wantToken)
			}
			if cs.Broken != (tt.wantToken == HealthBroken) {
				t.Errorf("Broken = %v", cs.Broken)
			}
			recs, _, _ := h.st.Audit(context.Background(), 0, 0)
			drifted := false
			for _, r := range recs {
				drifted = drifted || r.Event == "watch.drift"
			}
			if drifted != (tt.wantEvent != "") {
				t.Errorf("watch.drift audit record: %v", drifted)
			}
			if tt.wantEvent == "" {
				return
			}
			a := h.alerts.wait(t, tt.wantEvent)
			if a.Credential != "app" || a.Message == "" {
				t.Errorf("alert = %+v", a)
			}
			if tt.wantToken == HealthBroken {
				// A broken minted token is rotated away at once.
				s.tick(context.Background())
				s.jobs.Wait()
				if runs := h.runs("app"); len(runs) != 2 || runs[0].Status != rotation.RunSucceeded {
					t.Errorf("runs after a broken token = %+v", runs)
				}
			}
		})
	}
}

func TestServer_metrics(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp), cred("pat", config.SourcePersonalToken))
	h.adopt("app")
	h.adopt("pat")
	s := h.server(Options{})
	rotated(t, h, s, "app")
	h.tgts["app"].failNext = true
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background()) // fails, rolls back
	s.jobs.Wait()
	s.watchOne(context.Background(), &h.cfg.Credentials[0])

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		mf, ok := families[name]
		if !ok {
			return 0, false
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
		return 0, false
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
		any    bool // any value will do, as long as it is there
	}{
		{name: "rotor_status_up", want: 1},
		{name: "rotor_credential_created_timestamp_seconds", labels: map[string]string{"credential": "app"}, want: unix(h.clock.Now().Add(-2 * time.Hour))},
		{name: "rotor_credential_created_timestamp_seconds", labels: map[string]string{"credential": "pat"}, want: unix(h.clock.Now().Add(-4 * time.Hour))},
		{name: "rotor_credential_next_due_timestamp_seconds", labels: map[string]string{"credential": "app"}, any: true},
		{name: "rotor_credential_health", labels: map[string]string{"credential": "app", "state": StateDegraded}, want: 1}, // rolled back cleanly: works, not rotated
		{name: "rotor_credential_health", labels: map[string]string{"credential": "app", "state": StateUnhealthy}, want: 0},
		{name: "rotor_credential_health", labels: map[string]string{"credential": "pat", "state": StateNeedsPerson}, want: 1},
		{name: "rotor_credential_waiting_for_person", labels: map[string]string{"credential": "pat", "reason": ReasonPersonalTokenDue}, want: 1},
		{name: "rotor_last_run_success", labels: map[string]string{"credential": "app"}, want: 0},
		{name: "rotor_last_run_duration_seconds", labels: map[string]string{"credential": "app"}, any: true},
		{name: "rotor_bindings", labels: map[string]string{"credential": "app", "target": "file", "state": "healthy"}, want: 1},
		{name: "rotor_bindings", labels: map[string]string{"credential": "app", "target": "file", "state": "unhealthy"}, want: 0},
		{name: "rotor_bindings", labels: map[string]string{"credential": "app", "target": "file", "state": "waiting"}, want: 0},
		{name: "rotor_token_healthy", labels: map[string]string{"credential": "app"}, want: 1},
		{name: "rotor_rotations_total", labels: map[string]string{"credential": "app", "result": "succeeded"}, want: 1},
		{name: "rotor_rotations_total", labels: map[string]string{"credential": "app", "result": "rolled_back"}, want: 1},
		{name: "rotor_api_errors_total", labels: map[string]string{"service": "file"}, want: 1},
		// Histograms read as their sample count: the two runs this process finished.
		{name: "rotor_run_duration_seconds", labels: map[string]string{"credential": "app", "result": "succeeded"}, want: 1},
		{name: "rotor_run_duration_seconds", labels: map[string]string{"credential": "app", "result": "rolled_back"}, want: 1},
	}
	for _, tt := range tests {
		got, ok := value(tt.name, tt.labels)
		if !ok {
			t.Errorf("%s%v: missing", tt.name, tt.labels)
			continue
		}
		if !tt.any && got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if _, ok := families["rotor_credential_expires_timestamp_seconds"]; ok {
		t.Error("rotor_credential_expires_timestamp_seconds present for tokens that do not expire")
	}
	// Points in time are timestamps, not "seconds until/since" (which are
	// stale as soon as they are scraped).
	for name := range families {
		for _, old := range []string{"rotor_credential_age_seconds", "rotor_credential_expiry_seconds", "rotor_credential_next_due_seconds", "rotor_bindings_waiting_longest_seconds"} {
			if name == old {
				t.Errorf("%s is still exported", name)
			}
		}
	}
	for name := range families {
		if strings.HasPrefix(name, "rotor_") && families[name].GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}
}
