//go:build rotor_crashpoints

package rotation

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// This file exists only in torture builds (go build -tags rotor_crashpoints):
// it lets test/torture kill rotor at an exact step boundary. A production
// build compiles crashpoint_off.go instead, which does nothing.

// Environment variables a torture build reads.
const (
	// EnvCrashAt is "<event>[:<n>]": SIGKILL this process right after the
	// n-th (default first) persisted step named event (an audit event:
	// started, discovered, minted, checked, applied, verified, promoted,
	// failed, rolled_back, run.rolled_back, run.failed, retired, or a
	// source's own step reported with ReportStep: refresh.marked,
	// refresh.answered, refresh.recorded), counted
	// over every run of the process. "*" counts every step.
	EnvCrashAt = "ROTOR_CRASH_AT"
	// EnvLeaseTTL shortens the lease (a Go duration), so that a process
	// restarted after a kill takes the dead one's lease over in about a
	// second instead of thirty.
	EnvLeaseTTL = "ROTOR_LEASE_TTL"
)

// CrashPoint is a parsed EnvCrashAt.
type CrashPoint struct {
	Event string // "*" matches every event
	N     int64  // 1-based occurrence
}

// ParseCrashPoint reads "<event>[:<n>]".
func ParseCrashPoint(s string) (CrashPoint, error) {
	ev, n, hasN := strings.Cut(strings.TrimSpace(s), ":")
	cp := CrashPoint{Event: ev, N: 1}
	if ev == "" {
		return cp, fmt.Errorf("%s=%q: want <event>[:<n>]", EnvCrashAt, s)
	}
	if hasN {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v < 1 {
			return cp, fmt.Errorf("%s=%q: the occurrence must be a whole number from 1", EnvCrashAt, s)
		}
		cp.N = v
	}
	return cp, nil
}

// hook returns an Engine.Hook that calls kill at the point's occurrence,
// chaining next.
func (cp CrashPoint) hook(next func(string), kill func(step string, n int64)) func(string) {
	var seen atomic.Int64
	return func(step string) {
		if next != nil {
			next(step)
		}
		if cp.Event != "*" && step != cp.Event {
			return
		}
		if n := seen.Add(1); n == cp.N {
			kill(step, n)
		}
	}
}

// InstallCrashPoints arms e from the environment (EnvCrashAt, EnvLeaseTTL).
// A malformed value stops the process: a torture run must not silently test
// nothing.
func InstallCrashPoints(e *Engine) { InstallCrashHook(&e.Hook, &e.LeaseTTL) }

// InstallCrashHook arms any step hook and lease TTL from the environment as
// InstallCrashPoints arms the engine's (rotor migrate's migrator uses it).
func InstallCrashHook(hook *func(string), leaseTTL *time.Duration) {
	if v := os.Getenv(EnvLeaseTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "rotor (torture build): %s=%q: want a positive Go duration\n", EnvLeaseTTL, v)
			os.Exit(2)
		}
		*leaseTTL = d
	}
	v := os.Getenv(EnvCrashAt)
	if v == "" {
		return
	}
	cp, err := ParseCrashPoint(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotor (torture build): %v\n", err)
		os.Exit(2)
	}
	*hook = cp.hook(*hook, func(step string, n int64) {
		fmt.Fprintf(os.Stderr, "rotor (torture build): crash point %s#%d: SIGKILL\n", step, n)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; take no further step
	})
}
