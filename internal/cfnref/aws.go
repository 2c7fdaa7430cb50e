package cfnref

import (
	"errors"
	"strings"

	"github.com/rotor-ci/rotor/internal/awsx"
)

func sanitize(err error) error { return awsx.Sanitize(err) }

// isStackMissing: CloudFormation says "Stack with id X does not exist" as a
// ValidationError, not with a code of its own.
func isStackMissing(err error) bool {
	var e *awsx.Error
	if !errors.As(awsx.Sanitize(err), &e) {
		return false
	}
	return e.Code == "ValidationError" && strings.Contains(e.Message, "does not exist")
}
