// Package torture tries hard to break rotor and prints what it found, as
// figures.
//
// It runs the real rotor binary, built with -tags rotor_crashpoints, as
// subprocesses (rotor rotate, retire and serve) against the GitHub and
// CodePipeline emulators running in the test process, with at least 20
// polling pipelines bound to a few personal-token and github-app
// credentials. It kills rotor with SIGKILL at every step boundary of the
// protocol (ROTOR_CRASH_AT, honoured only by that build) and at random
// moments, restarts it and lets it resume; meanwhile it injects latency,
// 5xx answers, throttling, a pipeline whose UpdatePipeline always fails,
// failing GitHub revocation, an unreachable GitHub API and a briefly
// unwritable store. All along, pipelines deploy: a deployer starts
// executions at random (their Build stage takes a while) and answers the
// manual approvals some pipelines wait at after a random hold, through the
// API; two credentials skip busy pipelines (in_flight: skip), so their
// bindings become stragglers that a resume, the next rotation or rotor
// serve moves later.
//
// After every phase it checks the invariants I1–I8 of DESIGN.md from
// records rotor does not keep: the CodePipeline emulator's fetch record and
// its record of every update (what it stopped, and when the pipeline's
// executions were last read before it: I8), the
// GitHub emulator's token database, what crossed the wire (recorded by
// proxies in front of both emulators), the pipelines' declarations, the
// audit chain, and a search of every output, log, store file and temporary
// directory for token bytes. See docs/reliability.md for how to run it and
// the latest figures.
package torture
