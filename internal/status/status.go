// Package status assembles what rotor knows of each configured credential
// (current token, age, expiry, next due, last run, binding health) from the
// config and the store. `rotor status`, the HTTP API, /metrics and the
// dashboard all show this one view.
package status

import (
	"context"
	"fmt"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/schedule"
)

// Credential is one credential's state. It holds fingerprints, never tokens.
type Credential struct {
	Name        string            `json:"name"`
	Application string            `json:"application,omitempty"`
	Source      string            `json:"source"`
	Current     *rotation.Version `json:"current,omitempty"`
	Previous    *rotation.Version `json:"previous,omitempty"` // awaiting retirement
	Due         schedule.Decision `json:"due"`
	LastRun     *rotation.Run     `json:"last_run,omitempty"`
	OpenRun     *rotation.Run     `json:"open_run,omitempty"`
	Bindings    int               `json:"bindings"`          // in the newest run
	Healthy     int               `json:"bindings_verified"` // of those, verified (or rolled back to a live token)
	Failures    int               `json:"failures_since_success"`
	Now         time.Time         `json:"-"`
}

// Policy turns a credential's config into its schedule policy.
func Policy(c config.Credential) schedule.Policy {
	return schedule.Policy{Every: c.Rotate.Every.D(), RenewBefore: c.Rotate.RenewBefore.D(), Jitter: c.Rotate.Jitter.D()}
}

// Collect reads every configured credential's state at now.
func Collect(ctx context.Context, cfg *config.Config, st rotation.Store, now time.Time) ([]Credential, error) {
	out := make([]Credential, 0, len(cfg.Credentials))
	for _, cc := range cfg.Credentials {
		c, err := One(ctx, cc, st, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cc.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// One reads one credential's state at now.
func One(ctx context.Context, cc config.Credential, st rotation.Store, now time.Time) (Credential, error) {
	c := Credential{Name: cc.Name, Application: cc.Application, Source: cc.Source.Type, Now: now}
	versions, err := st.Versions(ctx, cc.Name)
	if err != nil {
		return c, err
	}
	for i := range versions {
		v := versions[i]
		switch v.State {
		case rotation.VersionCurrent:
			c.Current = &v
		case rotation.VersionPrevious:
			if c.Previous == nil {
				c.Previous = &v
			}
		}
	}
	runs, err := st.Runs(ctx, cc.Name, 20)
	if err != nil {
		return c, err
	}
	var lastFailure time.Time
	for i := range runs {
		r := runs[i]
		if r.Status == rotation.RunRunning {
			if c.OpenRun == nil {
				c.OpenRun = &r
			}
			continue
		}
		if c.LastRun == nil {
			c.LastRun = &r
		}
		if r.Status == rotation.RunSucceeded {
			break
		}
		c.Failures++
		if lastFailure.IsZero() {
			lastFailure = r.FinishedAt
		}
	}
	if newest := c.newestRun(); newest != nil {
		states, err := st.Bindings(ctx, newest.ID)
		if err != nil {
			return c, err
		}
		c.Bindings = len(states)
		for _, s := range states {
			if s.Status == rotation.BindingVerified || s.Status == rotation.BindingRolledBack || (newest.Status == rotation.RunFailed && s.Status == rotation.BindingPending) {
				c.Healthy++
			}
		}
	}
	state := schedule.State{Name: cc.Name, Failures: c.Failures, LastFailure: lastFailure}
	if c.Current != nil {
		state.HasCurrent, state.CurrentCreated, state.CurrentExpires = true, c.Current.CreatedAt, c.Current.ExpiresAt
	}
	c.Due = schedule.Next(Policy(cc), state, now)
	return c, nil
}

func (c Credential) newestRun() *rotation.Run {
	if c.OpenRun != nil {
		return c.OpenRun
	}
	return c.LastRun
}

// Labels for the table view.

func (c Credential) CurrentLabel() string {
	if c.Current == nil {
		return "none (run rotor adopt)"
	}
	return fmt.Sprintf("v%d %s", c.Current.Seq, c.Current.Fingerprint)
}

func (c Credential) AgeLabel() string {
	if c.Current == nil {
		return "-"
	}
	return Human(c.Now.Sub(c.Current.CreatedAt))
}

func (c Credential) ExpiresLabel() string {
	if c.Current == nil || c.Current.ExpiresAt.IsZero() {
		return "never"
	}
	return "in " + Human(c.Current.ExpiresAt.Sub(c.Now))
}

func (c Credential) DueLabel() string {
	if c.Due.Reason == "" {
		return "not scheduled"
	}
	if c.Due.Due(c.Now) {
		return "now (" + c.Due.Reason + ")"
	}
	at := c.Due.At
	if c.Due.NotBefore.After(at) {
		at = c.Due.NotBefore
	}
	return fmt.Sprintf("in %s (%s)", Human(at.Sub(c.Now)), c.Due.Reason)
}

func (c Credential) LastRunLabel() string {
	if c.OpenRun != nil {
		return fmt.Sprintf("#%d running (%s)", c.OpenRun.ID, c.OpenRun.Step)
	}
	if c.LastRun == nil {
		return "-"
	}
	s := fmt.Sprintf("#%d %s %s ago", c.LastRun.ID, c.LastRun.Status, Human(c.Now.Sub(c.LastRun.FinishedAt)))
	if c.LastRun.Reason != "" {
		s += " (" + c.LastRun.Reason + ")"
	}
	return s
}

func (c Credential) BindingsLabel() string {
	if c.Bindings == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d healthy", c.Healthy, c.Bindings)
}

// Human prints a duration the way people say it: 3d4h, 12m, 40s.
func Human(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		s = fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		s = fmt.Sprintf("%dm%ds", d/time.Minute, (d%time.Minute)/time.Second)
	default:
		s = fmt.Sprintf("%ds", d/time.Second)
	}
	if neg {
		return "-" + s
	}
	return s
}
