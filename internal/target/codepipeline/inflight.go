package codepipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/rotor-ci/rotor/internal/awsx"
)

// On AWS, UpdatePipeline stops the execution in progress (CodePipeline user
// guide, "Edit a pipeline (AWS CLI)"). So, by default, a pipeline is
// updated only when it is idle: its executions are read just before the
// update goes out, and a pipeline that is busy waits (in_flight: wait), is
// left for later (skip) or is updated anyway (interrupt). The check cannot
// be made atomic with the update (the API has no conditional update); it
// runs inside the UpdatePipeline call, after its rate-limit slot and right
// before signing, so that the window between them is one round trip.

// recentExecutions is how many of a pipeline's newest executions the idle
// check reads. More than one can be in progress only in PARALLEL mode, and
// an older one still running behind this many newer ones is not seen.
const recentExecutions = 25

// running is one execution in progress.
type running struct {
	id    string
	since time.Time
}

func (r running) String() string {
	if r.since.IsZero() {
		return r.id
	}
	return fmt.Sprintf("%s (since %s)", r.id, r.since.UTC().Format(time.RFC3339))
}

// inProgress reads a pipeline's executions in progress (InProgress or
// Stopping).
func (t *Target) inProgress(ctx context.Context, name string, opts ...func(*codepipeline.Options)) ([]running, error) {
	out, err := t.client.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: &name, MaxResults: aws.Int32(recentExecutions)}, opts...)
	if err != nil {
		if awsx.IsCode(err, "PipelineNotFoundException") {
			return nil, fmt.Errorf("pipeline %s: %w", name, ErrPipelineNotFound)
		}
		return nil, fmt.Errorf("pipeline %s: executions: %w", name, awsx.Sanitize(err))
	}
	var busy []running
	for _, e := range out.PipelineExecutionSummaries {
		if e.Status == types.PipelineExecutionStatusInProgress || e.Status == types.PipelineExecutionStatusStopping {
			r := running{id: deref(e.PipelineExecutionId)}
			if e.StartTime != nil {
				r.since = *e.StartTime
			}
			busy = append(busy, r)
		}
	}
	return busy, nil
}

// busyError is a pipeline that was not updated because an execution is in
// progress. The pipeline is unchanged.
type busyError struct {
	pipeline string
	running  []running
}

func (e *busyError) Error() string {
	ids := make([]string, len(e.running))
	for i, r := range e.running {
		ids[i] = r.String()
	}
	return fmt.Sprintf("pipeline %s is running execution %s: an update would stop it", e.pipeline, strings.Join(ids, ", "))
}

// RetryableError keeps the SDK from retrying: waiting is Apply's business.
func (e *busyError) RetryableError() bool { return false }

// gateError is an idle check that could not be made; the update was not
// sent.
type gateError struct{ err error }

func (e *gateError) Error() string        { return e.err.Error() }
func (e *gateError) Unwrap() error        { return e.err }
func (e *gateError) RetryableError() bool { return false }

// unpaced takes one call out of pacing (it is still counted in metrics).
// The idle check inside an UpdatePipeline runs once per update slot, so the
// update's limiter already bounds its rate; a second limiter in series would
// only add its own wait to the window (and, measured at 1,000 pipelines,
// cost a third of the update throughput).
func unpaced(o *codepipeline.Options) { o.APIOptions = append(o.APIOptions, awsx.Unpaced) }

// idleGate is the idle check of one UpdatePipeline call.
type idleGate struct {
	t         *Target
	pipeline  string
	interrupt bool     // update even when busy
	stopped   []string // with interrupt: the executions the update stops
	// attempts counts the UpdatePipeline attempts that reached the gate:
	// from the second on, an earlier one may have reached AWS.
	attempts int
}

// option installs the gate in one UpdatePipeline call, after the pacer (so
// after the wait for a rate-limit slot) and before signing.
func (g *idleGate) option(o *codepipeline.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		if _, ok := s.Finalize.Get(awsx.PaceID); ok {
			return s.Finalize.Insert(g, awsx.PaceID, middleware.After)
		}
		return s.Finalize.Add(g, middleware.After)
	})
}

func (g *idleGate) ID() string { return "RotorIdleGate" }

func (g *idleGate) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	g.attempts++
	busy, err := g.t.inProgress(ctx, g.pipeline, unpaced)
	if err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, &gateError{err}
	}
	g.stopped = g.stopped[:0]
	if len(busy) > 0 {
		if !g.interrupt {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, &busyError{pipeline: g.pipeline, running: busy}
		}
		for _, r := range busy {
			g.stopped = append(g.stopped, r.id)
		}
	}
	return next.HandleFinalize(ctx, in)
}
