package alert

import (
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// ForRun is the alert about a run that did not succeed, from the error
// Engine.Rotate returned; false when err is not a finished run's failure.
// rotor serve and the CLI's rotate send the same alert for the same run.
func ForRun(credential string, err error) (Alert, bool) {
	var re *rotation.RunError
	if !errors.As(err, &re) {
		return Alert{}, false
	}
	a := Alert{Credential: credential, RunID: re.Run.ID, Severity: Warning}
	switch {
	case errors.Is(err, rotation.ErrRolledBack):
		a.Event = EventRolledBack
		a.Message = fmt.Sprintf("rotation failed (%s) and was rolled back: every binding holds the previous token again and the new one was revoked. %s", re.Run.Reason, re.Run.Error)
	case errors.Is(err, rotation.ErrRollbackStuck):
		a.Event, a.Severity = EventRollbackStuck, Critical
		a.Message = fmt.Sprintf("rotation failed (%s) and the rollback is not finished; rotor keeps retrying. %s", re.Run.Reason, err)
	default:
		a.Event = EventRotationFailed
		a.Message = fmt.Sprintf("rotation failed (%s) before any binding changed. %s", re.Run.Reason, re.Run.Error)
	}
	return a, true
}
