//go:build !rotor_crashpoints

package rotation

// InstallCrashPoints does nothing: crash points exist only in torture builds
// (go build -tags rotor_crashpoints; see crashpoint.go and test/torture).
func InstallCrashPoints(*Engine) {}
