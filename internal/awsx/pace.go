package awsx

import (
	"context"
	"errors"
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"

	"github.com/rotor-ci/rotor/internal/ratelimit"
)

// Pace returns an SDK API option that sends every attempt of every operation
// (retries included) through g's limiter for that operation, and tells the
// limiter how the server answered. Add it to a client's APIOptions:
//
//	codepipeline.NewFromConfig(cfg, func(o *codepipeline.Options) {
//		o.APIOptions = append(o.APIOptions, awsx.Pace(g, nil))
//	})
//
// observe, if not nil, hears of every attempt once it is answered, with its
// service, operation, region, result and the limiter's rate after the
// answer (the caller adds the account, which the request does not name). It
// is called on the calling goroutine, so it must be quick and safe for
// concurrent use. An attempt that never left (its context ended while it
// waited for its slot) is not one.
func Pace(g *ratelimit.Group, observe func(ratelimit.Call)) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		// After the retry middleware, so each attempt waits its turn; before
		// signing, so the signature is as fresh as the attempt.
		if _, ok := s.Finalize.Get("Retry"); ok {
			return s.Finalize.Insert(pacer{g: g, observe: observe}, "Retry", middleware.After)
		}
		return s.Finalize.Add(pacer{g: g, observe: observe}, middleware.After)
	}
}

type pacer struct {
	g       *ratelimit.Group
	observe func(ratelimit.Call)
	unpaced bool // Unpaced: observed only
}

// PaceID names the pacing middleware in the stack, for middleware that must
// run right after the wait for a slot.
const PaceID = "RotorPace"

func (pacer) ID() string { return PaceID }

func (p pacer) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	op := awsmiddleware.GetOperationName(ctx)
	if p.unpaced {
		out, md, err := next.HandleFinalize(ctx, in)
		p.report(ctx, op, result(err), 0)
		return out, md, err
	}
	l := p.g.For(op)
	if err := l.Wait(ctx); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, err
	}
	out, md, err := next.HandleFinalize(ctx, in)
	r := result(err)
	switch {
	case r == ratelimit.ResultOK:
		l.OnSuccess()
	case r == ratelimit.ResultThrottled:
		l.OnThrottle()
	case answered(err):
		// A validation error or a missing pipeline: the server had room.
		l.OnSuccess()
	}
	p.report(ctx, op, r, l.Rate())
	return out, md, err
}

// result classifies one attempt's answer, for the limiter and the observer.
func result(err error) string {
	switch {
	case err == nil:
		return ratelimit.ResultOK
	case IsThrottle(err):
		return ratelimit.ResultThrottled
	}
	return ratelimit.ResultError
}

// report tells the observer, if any, of one attempt.
func (p pacer) report(ctx context.Context, op, result string, rate float64) {
	if p.observe == nil {
		return
	}
	p.observe(ratelimit.Call{
		Service: serviceName(awsmiddleware.GetServiceID(ctx)), Operation: op,
		Region: awsmiddleware.GetRegion(ctx), Result: result, Rate: rate,
	})
}

// Unpaced is an SDK API option that takes one call out of Pace's pacing:
// it neither waits for a slot nor tells the limiter how it was answered
// (the caller bounds its rate otherwise), but Pace's observer still hears
// of each attempt, with Rate 0. Without Pace in the stack it does nothing.
func Unpaced(s *middleware.Stack) error {
	m, ok := s.Finalize.Get(PaceID)
	if !ok {
		return nil
	}
	p, ok := m.(pacer)
	if !ok {
		return nil
	}
	p.unpaced = true
	_, err := s.Finalize.Swap(PaceID, p)
	return err
}

// answered reports an error the server sent with a 4xx status.
func answered(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500
}

// serviceName is the SDK's service ID as rotor names services elsewhere
// (target types, metrics): "CodePipeline" → "codepipeline", "Secrets
// Manager" → "secretsmanager".
func serviceName(id string) string { return strings.ToLower(strings.ReplaceAll(id, " ", "")) }
