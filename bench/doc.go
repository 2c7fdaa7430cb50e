// Command bench measures rotor rotate at scale against the way people rotate
// today: the seed procedure scripted with the AWS CLI.
//
// For each fleet size N and throttle R it starts the emulators in process
// with N pipelines, each with one GitHub (version 1) source action holding
// one credential, throttles GetPipeline and UpdatePipeline at R per second
// each (bucket of 1) and adds a latency L to every CodePipeline call. Then,
// in the same run, it
//
//  1. records the token the pipelines hold with `rotor adopt`, and times
//     `rotor rotate` (the real binary: engine, SQLite store and target) over
//     all N pipelines: wall time, peak RSS of the process (from wait4's
//     rusage), requests sent and throttled per operation (the emulator's
//     counts), and the throttled share after the first 5 seconds;
//  2. runs rotate-with-aws-cli.sh, the seed procedure as a user would script
//     it (get-pipeline → python edits the JSON → update-pipeline
//     --cli-input-json → rm), sequentially, over all pipelines or over a
//     sample whose time is extrapolated to N (and labelled so);
//  3. checks every pipeline after each of the two: it holds the new token
//     (none is left on the old one) and nothing but the token changed (I4:
//     the declaration GetPipeline shows is identical, its version one more).
//
// With -inflight it runs another scenario instead (inflight.go): a share
// of the pipelines run an execution of random length when the rotation
// starts, and new ones start at random while it runs. It counts, from the
// emulator's records, the executions rotor's updates stopped (in_flight:
// wait must stop none outside the race between its idle check and its
// update), the time to the last binding switched against N/R plus the
// longest execution, that race window (median, p99), and the executions
// the AWS CLI procedure stops on the same kind of day.
//
// It prints a table of medians with the ratios rotor/floor and CLI/rotor.
// The floor is the largest number of calls to any one throttled operation
// divided by R: N/R when each pipeline costs one GetPipeline and one
// UpdatePipeline. The table shows it both as the spec defines it (N/R) and
// from the calls rotor actually had to make, so that extra calls show up as
// a higher floor rather than hide in the ratio.
//
// Run from the module root:
//
//	go run ./bench                      # the full benchmark (about 25 minutes)
//	go run ./bench -n 100 -rates 0 -runs 1 -cli-sample 5   # a quick look
//	go run ./bench -inflight -n 1000 -rates 20 -runs 1     # pipelines deploying during the rotation
//
// See docs/performance.md for the results and the machine.
package main
