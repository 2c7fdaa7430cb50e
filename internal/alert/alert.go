package alert

import (
	"context"
	"regexp"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Events rotor alerts on.
const (
	EventRotationFailed   = "rotation_failed"
	EventRolledBack       = "rotation_rolled_back"
	EventRollbackStuck    = "rollback_stuck"
	EventRetireFailed     = "retire_failed"
	EventTokenExpiring    = "token_expiring"
	EventTokenBroken      = "token_broken"
	EventPersonalTokenDue = "personal_token_due"
	EventNeedsAdoption    = "needs_adoption"
	EventBindingDrift     = "binding_drift"
)

// Severity says how soon a person should act.
type Severity string

const (
	Info     Severity = "info"     // act when convenient (a personal token is due)
	Warning  Severity = "warning"  // act today (a rotation failed; pipelines still work)
	Critical Severity = "critical" // act now (a token stopped working or expires soon)
)

// Alert is one message to people. It holds fingerprints, never tokens.
type Alert struct {
	Event      string    `json:"event"`
	Credential string    `json:"credential"`
	Severity   Severity  `json:"severity"`
	Message    string    `json:"message"`
	RunID      int64     `json:"run_id,omitempty"`
	Time       time.Time `json:"time"`
	// Repeat overrides the Sender's de-duplication window for this alert
	// (a daily reminder, say). Not sent.
	Repeat time.Duration `json:"-"`
}

// Notifier delivers one alert to one destination, once. It returns a
// *DeliveryError saying whether trying again may help.
type Notifier interface {
	// Name identifies the destination in logs and metrics without its URL
	// (webhook URLs are often secrets themselves).
	Name() string
	Notify(ctx context.Context, a Alert) error
}

// tokenShaped matches GitHub token values of every kind rotor knows.
var tokenShaped = regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`)

// redact replaces anything shaped like a GitHub token with its redacted
// form: alerts are built from fingerprints, and this is the last guard.
func redact(s string) string {
	return tokenShaped.ReplaceAllStringFunc(s, func(v string) string { return token.New(v).Redacted() })
}
