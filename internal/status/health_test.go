package status

import (
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		run  rotation.RunStatus
		b    rotation.BindingStatus
		want Health
	}{
		{rotation.RunSucceeded, rotation.BindingVerified, Healthy},
		{rotation.RunSucceeded, rotation.BindingWaiting, Waiting},
		{rotation.RunSucceeded, rotation.BindingFailed, Unhealthy},  // a straggler whose move failed
		{rotation.RunSucceeded, rotation.BindingRefused, Unhealthy}, // a straggler whose move was refused
		{rotation.RunRolledBack, rotation.BindingRolledBack, Healthy},
		{rotation.RunRolledBack, rotation.BindingRefused, Healthy}, // a clean rollback: the refused write changed nothing
		{rotation.RunRolledBack, rotation.BindingPending, Healthy},
		{rotation.RunRolledBack, rotation.BindingFailed, Unhealthy}, // rollback could not restore it
		{rotation.RunRolledBack, rotation.BindingApplied, Unhealthy},
		{rotation.RunFailed, rotation.BindingPending, Healthy},
		{rotation.RunFailed, rotation.BindingRefused, Healthy},
		{rotation.RunRunning, rotation.BindingVerified, Rotating},
		{rotation.RunRunning, rotation.BindingWaiting, Rotating},
	} {
		if got := Classify(c.run, c.b); got != c.want {
			t.Errorf("Classify(%s, %s) = %s, want %s", c.run, c.b, got, c.want)
		}
	}
}
