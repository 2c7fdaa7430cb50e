package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/rotation"
)

var _ rotation.Vetter = (*Target)(nil)

// Vet decides, before anything is minted or written, whether each
// CloudFormation-managed binding may be written. Updating such a pipeline
// makes its stack drift, and the stack's next update writes the template's
// token back. That is harmless when the template takes the token from a
// Secrets Manager secret or an SSM SecureString that the same credential
// rotates before the pipeline (cfnref.Assess: the next stack update then
// resolves to the token the pipeline already holds): such a binding is
// marked AttrStackProven and needs no opt-in. Any other is refused, naming
// what rotor plan would say, unless allow_cloudformation_drift is set.
func (t *Target) Vet(ctx context.Context, own, all []rotation.Binding) ([]rotation.Binding, error) {
	out := make([]rotation.Binding, 0, len(own))
	var errs []error
	for _, b := range own {
		stack := b.Attrs[AttrStack]
		if stack == "" || t.cfg.AllowCloudFormationDrift {
			out = append(out, b)
			continue
		}
		ref, found, err := cfnref.Find(ctx, t.cfn, stack, b.Attrs[AttrPipeline], b.Attrs[AttrStage], b.Attrs[AttrAction])
		if err != nil {
			errs = append(errs, fmt.Errorf("%w; its template could not be read to prove it safe: %w", cfnError(b.Attrs[AttrPipeline], stack), err))
			continue
		}
		f := cfnref.Assess(stack, ref, found, b, all, t.cfg.Holds)
		if !f.Safe {
			why := strings.Join(f.Warnings, "; ")
			if why == "" {
				why = "its template does not take the token from a secret or parameter this credential rotates"
			}
			errs = append(errs, fmt.Errorf("%w: %s", cfnError(b.Attrs[AttrPipeline], stack), why))
			continue
		}
		b.Attrs = maps.Clone(b.Attrs)
		b.Attrs[AttrStackProven] = "true"
		out = append(out, b)
	}
	return out, errors.Join(errs...)
}
