package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// TestExitCode: the one mapping from errors to exit codes (DESIGN.md),
// through wrapping.
func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"rolled back", fmt.Errorf("rotate: %w", &rotation.RunError{Err: rotation.ErrRolledBack}), ExitRolledBack},
		{"failed run", &rotation.RunError{Err: rotation.ErrRunFailed}, ExitFailure},
		{"rollback stuck", &rotation.RunError{Err: rotation.ErrRollbackStuck}, ExitFailure},
		{"stragglers", fmt.Errorf("x: %w", &stragglersError{name: "c", n: 1}), ExitStragglers},
		{"usage", usageErrorf("--flag %q", "x"), ExitUsage},
		{"config error", fmt.Errorf("load: %w", &config.Error{File: "rotor.yaml", Msg: "bad"}), ExitUsage},
		{"config errors", config.Errors{{File: "rotor.yaml", Msg: "bad"}}, ExitUsage},
		{"validate", &invalidConfig{file: "rotor.yaml", n: 2}, ExitUsage},
		{"cobra usage", errors.New(`unknown flag: --nope`), ExitUsage},
		{"scan findings", &scanFailure{n: 2}, ExitFailure},
		{"anything else", errors.New("boom"), ExitFailure},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
