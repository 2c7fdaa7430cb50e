package server

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/schedule"
	"github.com/rotor-ci/rotor/internal/status"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	p := schedule.Policy{Every: 24 * time.Hour, RenewBefore: time.Hour}
	cur := func(age time.Duration, expiresIn time.Duration) *rotation.Version {
		v := &rotation.Version{Seq: 3, Fingerprint: "sha256:abc", State: rotation.VersionCurrent, CreatedAt: now.Add(-age)}
		if expiresIn != 0 {
			v.ExpiresAt = now.Add(expiresIn)
		}
		return v
	}
	app, pat := config.SourceGitHubApp, config.SourcePersonalToken
	failedRun := &rotation.Run{ID: 9, Status: rotation.RunFailed, FinishedAt: now.Add(-30 * time.Second)}
	open := func(step rotation.Step, failing bool) *rotation.Run {
		return &rotation.Run{ID: 7, Status: rotation.RunRunning, Step: step, Failing: failing}
	}
	prev := &rotation.Version{Seq: 2, State: rotation.VersionPrevious, RetireAfter: now.Add(-time.Minute)}
	prevInGrace := &rotation.Version{Seq: 2, State: rotation.VersionPrevious, RetireAfter: now.Add(time.Minute)}

	tests := []struct {
		name string
		v    status.Credential
		f    flags
		want action
	}{
		{name: "fresh token: idle",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0)},
			want: action{Reason: schedule.ReasonAge, Decision: schedule.Decision{At: now.Add(23 * time.Hour), Reason: schedule.ReasonAge}}},
		{name: "old token: rotate by age",
			v:    status.Credential{Source: app, Current: cur(25*time.Hour, 0)},
			want: action{Run: runStart, Reason: schedule.ReasonAge, Decision: schedule.Decision{At: now.Add(-time.Hour), Reason: schedule.ReasonAge}}},
		{name: "expiring token: rotate by expiry",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 30*time.Minute)},
			want: action{Run: runStart, Reason: schedule.ReasonExpiring, Decision: schedule.Decision{At: now.Add(-30 * time.Minute), Reason: schedule.ReasonExpiring}}},
		{name: "broken token: rotate at once",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0)},
			f:    flags{Broken: true, BrokenFingerprint: "sha256:abc"},
			want: action{Run: runStart, Reason: schedule.ReasonBroken, Decision: schedule.Decision{At: now, Reason: schedule.ReasonBroken}}},
		{name: "a token broken only because another replica rotated and retired it: wait for its age",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0)},
			f:    flags{Broken: true, BrokenFingerprint: "sha256:replaced"},
			want: action{Reason: schedule.ReasonAge, Decision: schedule.Decision{At: now.Add(23 * time.Hour), Reason: schedule.ReasonAge}}},
		{name: "personal token due: remind, never rotate",
			v:    status.Credential{Source: pat, Current: cur(25*time.Hour, 0)},
			want: action{Remind: ReasonPersonalTokenDue, Reason: schedule.ReasonAge, Decision: schedule.Decision{At: now.Add(-time.Hour), Reason: schedule.ReasonAge}}},
		{name: "personal token broken: remind",
			v:    status.Credential{Source: pat, Current: cur(time.Hour, 0)},
			f:    flags{Broken: true, BrokenFingerprint: "sha256:abc"},
			want: action{Remind: ReasonPersonalTokenDue, Reason: schedule.ReasonBroken, Decision: schedule.Decision{At: now, Reason: schedule.ReasonBroken}}},
		{name: "no current version: a person adopts",
			v:    status.Credential{Source: app},
			want: action{Remind: ReasonNeedsAdoption, Reason: schedule.ReasonNoCurrent}},
		{name: "failed 30s ago: backing off",
			v:    status.Credential{Source: app, Current: cur(25*time.Hour, 0), LastRun: failedRun, Failures: 1},
			want: action{Reason: schedule.ReasonAge + "," + schedule.ReasonBackingOff, Decision: schedule.Decision{At: now.Add(-time.Hour), Reason: schedule.ReasonAge + "," + schedule.ReasonBackingOff, NotBefore: now.Add(30 * time.Second)}}},
		{name: "failures without a run (locked store) back off too",
			v:    status.Credential{Source: app, Current: cur(25*time.Hour, 0)},
			f:    flags{Failures: 2, LastFailure: now.Add(-time.Minute)},
			want: action{Reason: schedule.ReasonAge + "," + schedule.ReasonBackingOff, Decision: schedule.Decision{At: now.Add(-time.Hour), Reason: schedule.ReasonAge + "," + schedule.ReasonBackingOff, NotBefore: now.Add(time.Minute)}}},
		{name: "manual request: rotate past backoff",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0), LastRun: failedRun, Failures: 1},
			f:    flags{Requested: true},
			want: action{Run: runStart, Reason: schedule.ReasonRequested, Decision: schedule.Decision{At: now, Reason: schedule.ReasonRequested}}},
		{name: "manual request of a personal token: remind",
			v:    status.Credential{Source: pat, Current: cur(time.Hour, 0)},
			f:    flags{Requested: true},
			want: action{Remind: ReasonPersonalTokenDue, Reason: schedule.ReasonRequested, Decision: schedule.Decision{At: now, Reason: schedule.ReasonRequested}}},
		{name: "open run: resume",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0), OpenRun: open(rotation.StepApplied, false)},
			want: action{Run: runResume, Reason: ReasonResume, Decision: schedule.Decision{At: now, Reason: schedule.ReasonRequested}}},
		{name: "open run that keeps failing to resume: backing off",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0), OpenRun: open(rotation.StepApplied, false)},
			f:    flags{Failures: 1, LastFailure: now.Add(-10 * time.Second)},
			want: action{Reason: schedule.ReasonBackingOff, Decision: schedule.Decision{At: now, Reason: schedule.ReasonRequested, NotBefore: now.Add(50 * time.Second)}}},
		{name: "personal run before it got a token: wait for a person",
			v:    status.Credential{Source: pat, Current: cur(time.Hour, 0), OpenRun: open(rotation.StepDiscovered, false)},
			want: action{Remind: ReasonWaitingForToken, Reason: ReasonWaitingForToken}},
		{name: "personal run holding its token: resume",
			v:    status.Credential{Source: pat, Current: cur(time.Hour, 0), OpenRun: open(rotation.StepMinted, false)},
			want: action{Run: runResume, Reason: ReasonResume, Decision: schedule.Decision{At: now, Reason: schedule.ReasonRequested}}},
		{name: "personal run rolling back: resume",
			v:    status.Credential{Source: pat, Current: cur(time.Hour, 0), OpenRun: open(rotation.StepDiscovered, true)},
			want: action{Run: runResume, Reason: ReasonResume, Decision: schedule.Decision{At: now, Reason: schedule.ReasonRequested}}},
		{name: "in flight: wait",
			v:    status.Credential{Source: app, Current: cur(25*time.Hour, 0)},
			f:    flags{InFlight: true, Requested: true},
			want: action{Reason: ReasonInFlight}},
		{name: "grace ended: retire",
			v:    status.Credential{Source: pat, Current: cur(time.Hour, 0), Previous: prev},
			want: action{Retire: true, Reason: schedule.ReasonAge, Decision: schedule.Decision{At: now.Add(23 * time.Hour), Reason: schedule.ReasonAge}}},
		{name: "grace ended and due: retire and rotate",
			v:    status.Credential{Source: app, Current: cur(25*time.Hour, 0), Previous: prev},
			want: action{Run: runStart, Retire: true, Reason: schedule.ReasonAge, Decision: schedule.Decision{At: now.Add(-time.Hour), Reason: schedule.ReasonAge}}},
		{name: "in grace: keep",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0), Previous: prevInGrace},
			want: action{Reason: schedule.ReasonAge, Decision: schedule.Decision{At: now.Add(23 * time.Hour), Reason: schedule.ReasonAge}}},
		{name: "open run: no retirement while bindings are in flux",
			v:    status.Credential{Source: app, Current: cur(time.Hour, 0), Previous: prev, OpenRun: open(rotation.StepApplied, false)},
			want: action{Run: runResume, Reason: ReasonResume, Decision: schedule.Decision{At: now, Reason: schedule.ReasonRequested}}},
		{name: "migrated, its last token in grace: nothing",
			v:    status.Credential{Source: pat, Previous: prevInGrace, Migrated: true},
			f:    flags{Requested: true},
			want: action{Reason: ReasonMigrated}},
		{name: "migrated, grace ended: retire, never rotate",
			v:    status.Credential{Source: app, Previous: prev, Migrated: true},
			want: action{Retire: true, Reason: ReasonMigrated}},
		{name: "open migration: the scheduler leaves it to rotor migrate",
			v:    status.Credential{Source: app, Current: cur(25*time.Hour, 0), OpenRun: &rotation.Run{ID: 8, Status: rotation.RunRunning, Trigger: rotation.TriggerMigrate, Step: "started"}},
			want: action{Reason: ReasonMigrating}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.v.Name = "ci"
			got := decide(p, tt.v, tt.f, now)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("decide (-want +got):\n%s", d)
			}
		})
	}
}

func TestExpiryAlert(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	p := schedule.Policy{RenewBefore: 7 * 24 * time.Hour}
	v := func(source string, expiresIn time.Duration) status.Credential {
		c := status.Credential{Name: "ci", Source: source, Current: &rotation.Version{Seq: 1, Fingerprint: "sha256:abc"}}
		if expiresIn != 0 {
			c.Current.ExpiresAt = now.Add(expiresIn)
		}
		return c
	}
	app, pat := config.SourceGitHubApp, config.SourcePersonalToken
	tests := []struct {
		name string
		v    status.Credential
		want alert.Severity // "" for no alert
	}{
		{name: "never expires", v: v(pat, 0)},
		{name: "personal, far", v: v(pat, 30*24*time.Hour)},
		{name: "personal, inside renew_before", v: v(pat, 6*24*time.Hour), want: alert.Warning},
		{name: "personal, last quarter", v: v(pat, 24*time.Hour), want: alert.Critical},
		{name: "app, inside renew_before: rotor will rotate", v: v(app, 5*24*time.Hour)},
		{name: "app, past half of renew_before: rotation is overdue", v: v(app, 3*24*time.Hour), want: alert.Critical},
		{name: "expired", v: v(app, -time.Minute), want: alert.Critical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := expiryAlert(p, tt.v, now)
			if ok != (tt.want != "") || a.Severity != tt.want {
				t.Fatalf("expiryAlert = %v, %v; want severity %q", a.Severity, ok, tt.want)
			}
			if ok && (a.Event != alert.EventTokenExpiring || !strings.Contains(a.Message, "sha256:abc")) {
				t.Errorf("alert = %+v", a)
			}
		})
	}
}

func TestReminder(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	cc := cred("ci", config.SourcePersonalToken)
	v := status.Credential{Name: "ci", Source: config.SourcePersonalToken, Now: now,
		Current: &rotation.Version{Seq: 4, Fingerprint: "sha256:0123456789ab", Identity: "octocat", CreatedAt: now.Add(-31 * 24 * time.Hour)}}
	tests := []struct {
		name         string
		maxLifetime  time.Duration
		v            status.Credential
		a            action
		wantEvent    string
		wantSeverity alert.Severity
		want         []string
	}{
		{name: "due by age", v: v, a: action{Remind: ReasonPersonalTokenDue, Reason: schedule.ReasonAge}, wantEvent: alert.EventPersonalTokenDue,
			want: []string{"ci is due", "31d0h old", "version 4, sha256:0123456789ab", "signed in as octocat", "scopes repo, admin:repo_hook", "NEW token", "Regenerate", "`rotor rotate ci`", "--token-stdin", "10m grace"}},
		{name: "waiting for a token", v: func() status.Credential { c := v; c.OpenRun = &rotation.Run{ID: 12}; return c }(),
			a: action{Remind: ReasonWaitingForToken}, wantEvent: alert.EventPersonalTokenDue,
			want: []string{"run 12", "`rotor rotate ci --resume`"}},
		{name: "needs adoption", v: status.Credential{Name: "ci"}, a: action{Remind: ReasonNeedsAdoption}, wantEvent: alert.EventNeedsAdoption,
			want: []string{"`rotor adopt ci --token-stdin`", "--bootstrap"}},
		{name: "blocked by the organisation's maximum lifetime", maxLifetime: 30 * 24 * time.Hour, v: v,
			a: action{Remind: ReasonPersonalTokenDue, Reason: schedule.ReasonMaxLifetime}, wantEvent: alert.EventPersonalTokenDue, wantSeverity: alert.Critical,
			want: []string{"maximum token lifetime (30d) blocks the current token", "expires in more than 10m and at most 30d", "`rotor rotate ci`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := cc
			cc.Source.MaxLifetime = config.Duration(tt.maxLifetime)
			a := reminder(cc, tt.v, tt.a)
			if tt.wantSeverity != "" && a.Severity != tt.wantSeverity {
				t.Errorf("severity %q, want %q", a.Severity, tt.wantSeverity)
			}
			if a.Event != tt.wantEvent || a.Credential != "ci" {
				t.Errorf("event %q credential %q", a.Event, a.Credential)
			}
			for _, w := range tt.want {
				if !strings.Contains(a.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, a.Message)
				}
			}
		})
	}
}
