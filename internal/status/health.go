package status

import "github.com/rotor-ci/rotor/internal/rotation"

// Health is one binding's health as the newest run left it. It is the one
// classification behind `rotor status`, the API, the dashboard and
// /metrics, so that they cannot disagree about the same binding.
type Health string

const (
	// Healthy: it holds the current version, verified by the run, or the
	// run left it on the (live) version it held: rolled back, refused
	// before any write, or never reached.
	Healthy Health = "healthy"
	// Waiting: a straggler on the previous version, which stays live (it
	// is not retired) until the binding moves.
	Waiting Health = "waiting"
	// Rotating: a run is open, so it may hold either version.
	Rotating Health = "rotating"
	// Unhealthy: a write failed and was not undone, or a straggler's move
	// failed: it may hold a token nobody verified, and a person should look.
	Unhealthy Health = "unhealthy"
)

// HealthStates are the states in the order they are shown.
var HealthStates = []Health{Healthy, Waiting, Rotating, Unhealthy}

// Classify is the health of a binding whose state in a run with status run
// is b.
func Classify(run rotation.RunStatus, b rotation.BindingStatus) Health {
	switch {
	case run == rotation.RunRunning:
		return Rotating
	case b == rotation.BindingVerified:
		return Healthy
	case b == rotation.BindingWaiting:
		return Waiting
	}
	if run == rotation.RunRolledBack || run == rotation.RunFailed {
		// The run ended with every binding on the version it started with,
		// which is still current: returned there (rolled_back), never
		// changed (refused: the service turned the write down), or never
		// reached (pending).
		switch b {
		case rotation.BindingRolledBack, rotation.BindingRefused, rotation.BindingPending:
			return Healthy
		}
	}
	return Unhealthy
}

// BindingHealth is one binding of the newest run with its health.
type BindingHealth struct {
	ID     string                 `json:"id"`
	Target string                 `json:"target"`
	Status rotation.BindingStatus `json:"status"`
	Health Health                 `json:"health"`
}
