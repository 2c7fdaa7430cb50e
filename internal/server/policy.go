package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/schedule"
	"github.com/rotor-ci/rotor/internal/status"
)

// flags is what the daemon knows of a credential beyond the store: a manual
// request, the watcher's verdict, work in flight, and failures that left no
// failed run behind (a store that was locked, a source that could not be
// built).
type flags struct {
	Requested bool
	// Broken: the watcher saw GitHub refuse the token BrokenFingerprint,
	// the current one when it looked. Only while that token is still the
	// current one: another replica may have rotated meanwhile, and
	// retiring the old token is what made GitHub refuse it.
	Broken            bool
	BrokenFingerprint string
	InFlight          bool
	Failures          int
	LastFailure       time.Time
}

// runKind is what the scheduler does with a credential's run.
type runKind int

const (
	runNone runKind = iota
	runStart
	runResume
)

// Reasons the daemon adds to internal/schedule's, CamelCase like them.
const (
	ReasonInFlight         = "InFlight"
	ReasonResume           = "ResumeOpenRun"
	ReasonPersonalTokenDue = "PersonalTokenDue"
	ReasonWaitingForToken  = "WaitingForToken"
	ReasonNeedsAdoption    = "NeedsAdoption"
	ReasonMigrated         = "Migrated"  // moved to a connection by rotor migrate: not rotated
	ReasonMigrating        = "Migrating" // a migration run is open
)

// action is the scheduler's decision for one credential at one moment.
type action struct {
	Run    runKind
	Retire bool // previous versions' grace has ended: revoke them
	// Settle: bindings of the last run still hold the previous version,
	// waiting for their pipeline: move those whose pipeline is idle now.
	Settle bool
	Remind string // a person must act: ReasonPersonalTokenDue, ReasonWaitingForToken, ReasonNeedsAdoption
	// Reason is why (schedule's reason, or one of the daemon's).
	Reason   string
	Decision schedule.Decision
}

// canMint reports whether a source type makes new tokens unattended.
func canMint(sourceType string) bool { return sourceType != config.SourcePersonalToken }

// resumable reports whether the daemon can finish run without a person: a
// minting source always can; a personal token's run can once it holds the
// token (minted or later) or when it is rolling back.
func resumable(sourceType string, run rotation.Run) bool {
	if canMint(sourceType) || run.Failing {
		return true
	}
	return run.Step != rotation.StepStarted && run.Step != rotation.StepDiscovered
}

// stateOf is the schedule state of a credential: the store's view plus the
// daemon's flags. Failures of both kinds push the credential back.
func stateOf(v status.Credential, f flags) schedule.State {
	broken := f.Broken && v.Current != nil && v.Current.Fingerprint == f.BrokenFingerprint
	s := schedule.State{Name: v.Name, Broken: broken, Requested: f.Requested, Failures: v.Failures + f.Failures, LastFailure: f.LastFailure}
	if v.Current != nil {
		s.HasCurrent, s.CurrentCreated, s.CurrentExpires = true, v.Current.CreatedAt, v.Current.ExpiresAt
	}
	if v.Failures > 0 && v.LastRun != nil && v.LastRun.FinishedAt.After(s.LastFailure) {
		s.LastFailure = v.LastRun.FinishedAt
	}
	return s
}

// decide is the scheduler's policy chain for one credential. Each rule is
// a pure function of (policy, view, flags, now); the first that applies
// wins:
//  1. work in flight: wait for it;
//  2. an open run: resume it, unless it waits for a person's token; local
//     failures back it off;
//  3. no current version: a person must adopt one;
//  4. a manual request: rotate now, past any backoff (a person asked);
//  5. schedule.Next (broken token, expiry, age, with jitter and backoff):
//     rotate when due, or remind when the source cannot mint.
//
// Independently, bindings still waiting for their pipeline (stragglers)
// are moved when idle, and previous versions whose grace has ended are
// retired (the engine retires none while a straggler holds it).
func decide(p schedule.Policy, v status.Credential, f flags, now time.Time) action {
	if f.InFlight {
		return action{Reason: ReasonInFlight}
	}
	a := action{
		Retire: v.OpenRun == nil && v.Previous != nil && !now.Before(v.Previous.RetireAfter),
		Settle: v.OpenRun == nil && len(v.Stragglers) > 0,
	}
	st := stateOf(v, f)
	switch {
	case v.OpenRun != nil && v.OpenRun.Trigger == rotation.TriggerMigrate:
		a.Reason = ReasonMigrating // 'rotor migrate NAME' resumes it, not the scheduler
		return a
	case v.OpenRun != nil:
		if !resumable(v.Source, *v.OpenRun) {
			a.Remind, a.Reason = ReasonWaitingForToken, ReasonWaitingForToken
			return a
		}
		// A resume that keeps failing (a locked store) backs off like a
		// failed run; failed runs themselves are closed, not open.
		d := schedule.Next(p, schedule.State{Name: v.Name, Requested: true, Failures: f.Failures, LastFailure: f.LastFailure}, now)
		a.Decision = d
		if !d.Due(now) {
			a.Reason = schedule.ReasonBackingOff
			return a
		}
		a.Run, a.Reason = runResume, ReasonResume
		return a
	case v.Migrated:
		a.Reason = ReasonMigrated // nothing to rotate; Retire above revokes its last token
		return a
	case !st.HasCurrent:
		a.Remind, a.Reason = ReasonNeedsAdoption, schedule.ReasonNoCurrent
		return a
	case f.Requested:
		a.Decision = schedule.Decision{At: now, Reason: schedule.ReasonRequested}
		a.Reason = schedule.ReasonRequested
		if !canMint(v.Source) {
			a.Remind = ReasonPersonalTokenDue
			return a
		}
		a.Run = runStart
		return a
	}
	d := schedule.Next(p, st, now)
	a.Decision, a.Reason = d, d.Reason
	if !d.Due(now) {
		return a
	}
	if !canMint(v.Source) {
		a.Remind = ReasonPersonalTokenDue
		return a
	}
	a.Run = runStart
	return a
}

// expiryAlert is the alert for a current token close to its expiry, if one
// is due: a personal token inside renew_before (a person must act); a
// minted token past half of renew_before (rotation should have replaced it
// by now, so something is wrong); any token already expired.
func expiryAlert(p schedule.Policy, v status.Credential, now time.Time) (alert.Alert, bool) {
	if v.Current == nil || v.Current.ExpiresAt.IsZero() {
		return alert.Alert{}, false
	}
	left := v.Current.ExpiresAt.Sub(now)
	a := alert.Alert{Event: alert.EventTokenExpiring, Credential: v.Name, Severity: alert.Warning}
	switch {
	case left <= 0:
		a.Severity = alert.Critical
		a.Message = fmt.Sprintf("the current token (version %d, %s) expired %s ago: every binding that holds it is failing", v.Current.Seq, v.Current.Fingerprint, status.Human(-left))
		return a, true
	case !canMint(v.Source) && left <= p.RenewBefore:
		if left <= p.RenewBefore/4 {
			a.Severity = alert.Critical
		}
	case canMint(v.Source) && left <= p.RenewBefore/2:
		a.Severity = alert.Critical
	default:
		return alert.Alert{}, false
	}
	a.Message = fmt.Sprintf("the current token (version %d, %s) expires in %s (at %s)", v.Current.Seq, v.Current.Fingerprint, status.Human(left), v.Current.ExpiresAt.UTC().Format(time.RFC3339))
	if canMint(v.Source) {
		a.Message += "; rotor has not managed to replace it: see the last run's error"
	}
	return a, true
}

// reminder is the alert that asks a person to act, with exact instructions.
func reminder(cc config.Credential, v status.Credential, a action) alert.Alert {
	out := alert.Alert{Credential: cc.Name, Severity: alert.Info, Repeat: 24 * time.Hour}
	switch a.Remind {
	case ReasonNeedsAdoption:
		out.Event, out.Severity, out.Repeat = alert.EventNeedsAdoption, alert.Warning, 0
		out.Message = fmt.Sprintf("rotor knows no current token for %s, so it cannot rotate it safely (a failure could not roll back). "+
			"Record the token its targets hold today: `rotor adopt %s --token-stdin` (pipe the token in), "+
			"or rotate without a way back: `rotor rotate %s --bootstrap`.", cc.Name, cc.Name, cc.Name)
		return out
	case ReasonWaitingForToken:
		out.Event, out.Severity = alert.EventPersonalTokenDue, alert.Warning
		out.RunID = v.OpenRun.ID
		out.Message = fmt.Sprintf("run %d of %s stopped before it received a new token, and only a person can give one. %s "+
			"Then finish the run: `rotor rotate %s --resume` (paste the token at the hidden prompt, or pipe it with --token-stdin).",
			v.OpenRun.ID, cc.Name, createInstructions(cc, v), cc.Name)
		return out
	}
	out.Event = alert.EventPersonalTokenDue
	why := a.Reason
	switch {
	case strings.HasPrefix(why, schedule.ReasonBroken):
		out.Severity, why = alert.Critical, "the current token stopped working"
	case strings.HasPrefix(why, schedule.ReasonMaxLifetime):
		// GitHub refuses the token on the organisation's resources now.
		out.Severity, why = alert.Critical, "the organisation's maximum token lifetime ("+cc.Source.MaxLifetime.String()+") blocks the current token"
	case strings.HasPrefix(why, schedule.ReasonExpiring):
		out.Severity, why = alert.Warning, "the current token expires in "+status.Human(v.Current.ExpiresAt.Sub(v.Now))
	case strings.HasPrefix(why, schedule.ReasonAge):
		why = fmt.Sprintf("the current token is %s old (rotate.every %s)", status.Human(v.Now.Sub(v.Current.CreatedAt)), cc.Rotate.Every)
	case why == schedule.ReasonRequested:
		why = "a rotation was requested"
	}
	cur := ""
	if v.Current != nil {
		cur = fmt.Sprintf(" (version %d, %s)", v.Current.Seq, v.Current.Fingerprint)
	}
	out.Message = fmt.Sprintf("%s is due for rotation: %s%s. GitHub has no API to create personal access tokens, so a person must. %s "+
		"Then run `rotor rotate %s` and paste it at the hidden prompt (or pipe it: `… | rotor rotate %s --token-stdin`). "+
		"rotor checks it, applies and verifies it everywhere, and retires the old token after the %s grace period.",
		cc.Name, why, cur, createInstructions(cc, v), cc.Name, cc.Name, cc.Rotate.Grace)
	return out
}

// createInstructions says how to create the new token in GitHub.
func createInstructions(cc config.Credential, v status.Credential) string {
	who := ""
	if v.Current != nil && v.Current.Identity != "" {
		who = ", signed in as " + v.Current.Identity
	}
	scopes := "the same scopes as the current token"
	if len(cc.Source.Scopes) > 0 {
		scopes = "scopes " + strings.Join(cc.Source.Scopes, ", ")
	}
	expiry := ""
	if cc.Source.MaxLifetime > 0 {
		expiry = fmt.Sprintf(" that expires in more than %s and at most %s (the organisation's maximum lifetime)", cc.Rotate.RenewBefore, cc.Source.MaxLifetime)
	}
	return fmt.Sprintf("In GitHub%s, open Settings → Developer settings → Personal access tokens and generate a NEW token with %s%s "+
		"(do not use Regenerate on the current one: that kills it before the pipelines have the new one).", who, scopes, expiry)
}
