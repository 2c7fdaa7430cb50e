// Package status assembles what rotor knows of each configured credential
// (current token, age, expiry, next due, last run, binding health) from the
// config and the store. `rotor status`, the HTTP API, /metrics and the
// dashboard all show this one view.
package status

import (
	"context"
	"fmt"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/schedule"
)

// Reader is the read side of rotor's store: all that status, plan, the
// server and the CLI read. Nothing here writes: the engine is the store's
// only writer (rotation.Store, each write fenced by the run's lease).
// Errors and not-found as in rotation.Store; rotation.ErrNotFound where a
// single record is asked for.
type Reader interface {
	// Credential returns rotation.ErrNotFound if name was never recorded.
	Credential(ctx context.Context, name string) (rotation.CredentialRecord, error)
	Credentials(ctx context.Context) ([]rotation.CredentialRecord, error)
	// Versions of one credential, newest (highest Seq) first.
	Versions(ctx context.Context, credential string) ([]rotation.Version, error)
	// Runs of one credential, newest first, at most limit (0: all).
	Runs(ctx context.Context, credential string, limit int) ([]rotation.Run, error)
	// OpenRun is the credential's run still running; rotation.ErrNotFound if none.
	OpenRun(ctx context.Context, credential string) (rotation.Run, error)
	// Bindings of a run, in the order they were first put.
	Bindings(ctx context.Context, runID int64) ([]rotation.BindingState, error)
	// Audit returns records with Seq > after, in order, at most limit (0:
	// all), and the chain's head as stored.
	Audit(ctx context.Context, after int64, limit int) ([]audit.Record, audit.Head, error)
}

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
	Healthy     int               `json:"bindings_verified"` // of those, Healthy (see Classify)
	// Each is the newest run's bindings with their health (Classify).
	Each     []BindingHealth `json:"binding_health,omitempty"`
	Failures int             `json:"failures_since_success"`
	// Accounts: where the newest run's bindings are in more than one AWS
	// account or region, how each account × region fared (ByAccount).
	Accounts []AccountBindings `json:"accounts,omitempty"`
	// Stragglers are the bindings of the newest succeeded run that do not
	// hold its version yet: they wait for their pipeline to be idle (or
	// failed to move since) and keep the previous token, which is not
	// retired until they move.
	Stragglers []Straggler `json:"stragglers,omitempty"`
	// Interrupted counts the executions the newest run stopped (its
	// targets' policy allowed it).
	Interrupted int `json:"interrupted_executions,omitempty"`
	// Grant is a github-app-user credential's refresh grant.
	Grant *Grant `json:"grant,omitempty"`
	// Revocations are its old tokens still on their way through the
	// revocation queue or alive after it, and the newest revocation of a
	// token's access to an organisation; nil when there is none.
	Revocations *Revocations `json:"revocations,omitempty"`
	// Warnings are what a person should know or do (a lost grant, a token
	// an organisation's policy will block, a token alive after its
	// revocation), one sentence each.
	Warnings []string `json:"warnings,omitempty"`
	// Migrated: rotor migrate moved every action of the credential to a
	// CodeConnections connection (run MigratedBy); it is not rotated any
	// more and its last token retires after the grace period.
	Migrated   bool      `json:"migrated"`
	MigratedBy int64     `json:"migrated_by_run,omitempty"`
	Now        time.Time `json:"-"`
}

// Straggler is one binding still on the previous version.
type Straggler struct {
	Binding string    `json:"binding"`
	Target  string    `json:"target,omitempty"`
	RunID   int64     `json:"run_id"`
	Status  string    `json:"status"` // waiting; failed or refused when a move failed
	Since   time.Time `json:"since"`
	Why     string    `json:"why,omitempty"`
}

// Policy turns a credential's config into its schedule policy.
func Policy(c config.Credential) schedule.Policy {
	return schedule.Policy{Every: c.Rotate.Every.D(), RenewBefore: c.Rotate.RenewBefore.D(), Jitter: c.Rotate.Jitter.D(), MaxLifetime: c.Source.MaxLifetime.D()}
}

// Collect reads every configured credential's state at now.
func Collect(ctx context.Context, cfg *config.Config, st Reader, now time.Time) ([]Credential, error) {
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
func One(ctx context.Context, cc config.Credential, st Reader, now time.Time) (Credential, error) {
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
	if newest := c.NewestRun(); newest != nil {
		states, err := st.Bindings(ctx, newest.ID)
		if err != nil {
			return c, err
		}
		c.Bindings = len(states)
		interrupted := map[string]bool{}
		for _, s := range states {
			h := Classify(newest.Status, s.Status)
			if h == Healthy {
				c.Healthy++
			}
			c.Each = append(c.Each, BindingHealth{ID: s.Binding.ID, Target: s.Binding.Target, Status: s.Status, Health: h})
			for _, x := range s.Interrupted {
				interrupted[s.Binding.Resource+"\x00"+x] = true
			}
		}
		c.Interrupted = len(interrupted)
		c.Accounts = ByAccount(states)
	}
	if m, ok := rotation.Migrated(runs); ok {
		c.Migrated, c.MigratedBy = true, m.ID
	}
	if c.Stragglers, err = stragglers(ctx, st, runs); err != nil {
		return c, err
	}
	var warn []string
	if c.Grant, warn, err = grantOf(ctx, cc, st); err != nil {
		return c, err
	}
	c.Warnings = append(c.Warnings, warn...)
	if c.Revocations, warn, err = revocationsOf(ctx, cc, st); err != nil {
		return c, err
	}
	c.Warnings = append(c.Warnings, warn...)
	if w := LifetimeWarning(cc, c.Current); w != "" {
		c.Warnings = append(c.Warnings, w)
	}
	state := schedule.State{Name: cc.Name, Failures: c.Failures, LastFailure: lastFailure}
	if c.Current != nil {
		state.HasCurrent, state.CurrentCreated, state.CurrentExpires = true, c.Current.CreatedAt, c.Current.ExpiresAt
	}
	c.Due = schedule.Next(Policy(cc), state, now)
	return c, nil
}

// stragglers are the bindings of the newest succeeded run among runs that
// are not verified.
func stragglers(ctx context.Context, st Reader, runs []rotation.Run) ([]Straggler, error) {
	for _, r := range runs {
		if r.Status != rotation.RunSucceeded || r.Trigger == rotation.TriggerMigrate {
			continue
		}
		states, err := st.Bindings(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		var out []Straggler
		for _, s := range states {
			if s.Status == rotation.BindingVerified {
				continue
			}
			why := s.Note
			if why == "" {
				why = s.Error
			}
			out = append(out, Straggler{Binding: s.Binding.ID, Target: s.Binding.Target, RunID: r.ID, Status: string(s.Status), Since: s.UpdatedAt, Why: why})
		}
		return out, nil
	}
	return nil, nil
}

// Waiting is how many bindings still hold the previous version.
func (c Credential) Waiting() int { return len(c.Stragglers) }

// LongestWait is how long the oldest straggler has waited.
func (c Credential) LongestWait() time.Duration {
	var d time.Duration
	for _, s := range c.Stragglers {
		d = max(d, c.Now.Sub(s.Since))
	}
	return d
}

// NewestRun is the open run, or else the last finished one; nil if none.
func (c Credential) NewestRun() *rotation.Run {
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
	if c.Migrated {
		return fmt.Sprintf("never: migrated (run %d)", c.MigratedBy)
	}
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
	s := fmt.Sprintf("%d/%d healthy", c.Healthy, c.Bindings)
	if n := c.Waiting(); n > 0 {
		s += fmt.Sprintf(", %d waiting for their pipeline (%s)", n, Human(c.LongestWait()))
	}
	return s
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
