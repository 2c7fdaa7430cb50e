// Package e2e runs `rotor serve` end to end against the GitHub and
// CodePipeline emulators: a rotation happens on its own, an alert reaches a
// local webhook, /metrics and the API answer, and a daemon killed (SIGKILL)
// in the middle of a run is resumed by the next one. The daemon runs as a
// child process (this test binary, re-executed), so the kill is real.
package e2e
