package status

import (
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/schedule"
)

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40 * time.Second:                                "40s",
		12*time.Minute + 5*time.Second:                  "12m5s",
		3*time.Hour + 20*time.Minute:                    "3h20m",
		50 * time.Hour:                                  "2d2h",
		-(90 * time.Second):                             "-1m30s",
		89*24*time.Hour + 23*time.Hour + 59*time.Minute: "89d23h",
	} {
		if got := Human(d); got != want {
			t.Errorf("Human(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestCredential_Labels(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c := Credential{Name: "x", Now: now,
		Current:  &rotation.Version{Seq: 3, Fingerprint: "sha256:abc", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(48 * time.Hour)},
		Due:      schedule.Decision{At: now.Add(-time.Minute), Reason: schedule.ReasonExpiring},
		LastRun:  &rotation.Run{ID: 7, Status: rotation.RunRolledBack, Reason: "VerifyFailed", FinishedAt: now.Add(-2 * time.Minute)},
		Bindings: 4, Healthy: 4}
	for got, want := range map[string]string{
		c.CurrentLabel():  "v3 sha256:abc",
		c.AgeLabel():      "1h0m",
		c.ExpiresLabel():  "in 2d0h",
		c.DueLabel():      "now (Expiring)",
		c.LastRunLabel():  "#7 rolled_back 2m0s ago (VerifyFailed)",
		c.BindingsLabel(): "4/4 healthy",
	} {
		if got != want {
			t.Errorf("label %q, want %q", got, want)
		}
	}
	empty := Credential{Now: now}
	if !strings.Contains(empty.CurrentLabel(), "rotor adopt") || empty.ExpiresLabel() != "never" {
		t.Errorf("labels without a version: %q %q", empty.CurrentLabel(), empty.ExpiresLabel())
	}
}

func TestCredential_StragglerLabel(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c := Credential{Now: now, Bindings: 5, Healthy: 3, Stragglers: []Straggler{
		{Binding: "a", Status: "waiting", Since: now.Add(-90 * time.Second)},
		{Binding: "b", Status: "waiting", Since: now.Add(-4 * time.Minute)},
	}}
	if got, want := c.BindingsLabel(), "3/5 healthy, 2 waiting for their pipeline (4m0s)"; got != want {
		t.Errorf("BindingsLabel = %q, want %q", got, want)
	}
	if c.Waiting() != 2 || c.LongestWait() != 4*time.Minute {
		t.Errorf("Waiting %d, LongestWait %v", c.Waiting(), c.LongestWait())
	}
}

func TestLifetimeWarning(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cc := config.Credential{Name: "deploy", Source: config.Source{Type: config.SourcePersonalToken, MaxLifetime: config.Duration(30 * day)}}
	version := func(life time.Duration) *rotation.Version {
		v := &rotation.Version{Seq: 4, Fingerprint: "sha256:abcdefabcdef", CreatedAt: now.Add(-day)}
		if life > 0 {
			v.ExpiresAt = v.CreatedAt.Add(life)
		}
		return v
	}
	for _, tt := range []struct {
		name string
		cc   config.Credential
		v    *rotation.Version
		want []string // "" for no warning
	}{
		{"within", cc, version(30 * day), nil},
		{"over", cc, version(90 * day), []string{"max_lifetime 30d", "v4 sha256:abcdefabcdef", "at least 90d0h", "expires 2027-02-25", "expires within 30d", "rotor rotate deploy"}},
		{"no expiry", cc, version(0), []string{"no expiration", "rotor rotate deploy"}},
		{"no policy", config.Credential{Name: "deploy"}, version(0), nil},
		{"no current version", cc, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := LifetimeWarning(tt.cc, tt.v)
			if (got == "") != (tt.want == nil) {
				t.Fatalf("LifetimeWarning = %q, want a warning: %v", got, tt.want != nil)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("LifetimeWarning = %q, want it to say %q", got, w)
				}
			}
		})
	}
}
