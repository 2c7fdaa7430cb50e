// Package ratelimit paces calls to a cloud API that throttles without saying
// how fast it may be called (CodePipeline publishes no per-API rate).
//
// A Limiter hands out one call slot per interval (a token bucket of burst 1)
// at a rate that adapts to the server's answers, AIMD style:
//   - slow start: from the initial rate it grows by a sixteenth per success
//     (doubling every eleven calls) until the first throttle;
//   - multiplicative decrease: a throttle cuts the rate by Decrease (10%) of
//     the rate actually sent (which is lower than the limit when callers were
//     the bottleneck); an isolated throttle, within Tolerance (0.5% of calls),
//     does not cut at all; throttles of calls sent before a cut, answering
//     within a cooldown, do not cut again, unless most calls in that window
//     were throttled, in which case the rate drops to what got through;
//   - additive increase: the rate climbs back to where it throttled over
//     Probe successes (or Climb, whichever is shorter), and once clearly past
//     that point without a throttle it probes upwards quickly again.
//
// It therefore settles just under the server's rate with about one throttled
// call per climb (well under 1% of calls at 20/s) instead of swinging between
// overload and half speed. The package tests simulate the benchmark shape (a
// thousand calls against a 20/s bucket) on a virtual clock.
//
// A Group holds one Limiter per operation, because AWS throttles each API
// separately. Everything here is safe for concurrent use.
package ratelimit
