// Package alert tells people when rotor needs them: a rotation failed or
// rolled back, a token is about to expire, a personal token is due and only
// a person can create the next one, or a binding drifted away from what
// rotor left.
//
// A Sender queues alerts and delivers them from its own goroutine, so the
// scheduler never waits on a webhook; delivery retries with bounded
// exponential backoff, and a destination that stays down loses its alerts
// (logged and counted) rather than holding up rotations. Repeats of one
// (credential, event) within a window are dropped, so a failing credential
// does not page every tick.
//
// Alerts carry fingerprints, never token values; as a last guard the Sender
// redacts anything shaped like a GitHub token before it leaves the process.
package alert
