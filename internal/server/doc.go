// Package server is `rotor serve`: the daemon that runs rotor in
// production. It decides when each credential is due (a chain of pure
// policies over the store's state and a clock, composed with
// internal/schedule), rotates what can be minted unattended, reminds people
// of what cannot (personal tokens), resumes runs a crash left open, retires
// previous tokens after their grace period, and watches that every current
// token and binding still works.
//
// It serves a JSON API under /v1 (bearer-token auth), /metrics for
// Prometheus, /healthz and /readyz, and a dashboard from embedded files at /.
// No response ever holds a token value: versions are shown by fingerprint.
//
// Shutdown is graceful: when Run's context ends the scheduler takes no new
// work, each run in flight finishes the step it is in (the engine persists
// every step) and stops there for the next start to resume.
package server
