package codepipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// Inspect tells, read-only, whether each binding's pipeline still works with
// the token it holds: the latest run of its GitHub source action must not
// have failed with "Could not access the GitHub repository", AWS's message
// for a revoked, expired or under-scoped token. rotor serve's watcher calls
// it; Discover already proved the pipeline and its action still exist.
// One GetPipelineState per pipeline.
func (t *Target) Inspect(ctx context.Context, bindings []rotation.Binding, report func(rotation.Result)) {
	t.fanOut(ctx, bindings, report, func(ctx context.Context, name string, bs []bound) []error {
		out, err := t.client.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(name)})
		if err != nil {
			return same(fmt.Errorf("pipeline %s: state: %w", name, awsx.Sanitize(err)), len(bs))
		}
		errs := make([]error, len(bs))
		for i, x := range bs {
			errs[i] = sourceFailure(name, x.w, out.StageStates)
		}
		return errs
	})
}

// sourceFailure is the binding's action's latest failure caused by its
// token, or nil.
func sourceFailure(pipeline string, w where, stages []types.StageState) error {
	for _, s := range stages {
		if aws.ToString(s.StageName) != w.stage {
			continue
		}
		for _, a := range s.ActionStates {
			if aws.ToString(a.ActionName) != w.action || a.LatestExecution == nil {
				continue
			}
			le := a.LatestExecution
			if le.Status == types.ActionExecutionStatusFailed && le.ErrorDetails != nil &&
				strings.Contains(aws.ToString(le.ErrorDetails.Message), "Could not access the GitHub repository") {
				return fmt.Errorf("pipeline %s: action %s: %w: its latest run failed with %q", pipeline, w, ErrSourceFailed, aws.ToString(le.ErrorDetails.Message))
			}
		}
	}
	return nil
}
