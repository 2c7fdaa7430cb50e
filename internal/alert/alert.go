package alert

import (
	"context"
	"time"
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
	// EventRevocationFailed: GitHub still accepts a token after rotor
	// revoked it.
	EventRevocationFailed = "token_alive_after_revocation"
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
