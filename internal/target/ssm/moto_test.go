package ssm

import (
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/motoserver"
)

// TestAgainstMoto runs the target against moto_server, one server for the
// package (it takes seconds to start); each case uses its own resources.
// Run one with -run 'TestAgainstMoto/Target_Apply'.
func TestAgainstMoto(t *testing.T) {
	ep := motoserver.Start(t)
	for _, tc := range []struct {
		name string
		f    func(*testing.T, string)
	}{
		{"Target_Discover", testTarget_Discover},
		{"Target_DiscoverRefuses", testTarget_DiscoverRefuses},
		{"Target_Apply", testTarget_Apply},
		{"Target_RoleARN", testTarget_RoleARN},
		{"Target_ReadBack", testTarget_ReadBack},
		{"Canary", testCanary},
		{"Contract", testContract},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, ep) })
	}
}
