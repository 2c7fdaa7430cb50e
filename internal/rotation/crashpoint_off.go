//go:build !rotor_crashpoints

package rotation

import "time"

// InstallCrashPoints does nothing: crash points exist only in torture builds
// (go build -tags rotor_crashpoints; see crashpoint.go and test/torture).
func InstallCrashPoints(*Engine) {}

// InstallCrashHook does nothing outside torture builds.
func InstallCrashHook(*func(string), *time.Duration) {}
