package awsx

import (
	"context"
	"errors"

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
//		o.APIOptions = append(o.APIOptions, awsx.Pace(g))
//	})
func Pace(g *ratelimit.Group) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		// After the retry middleware, so each attempt waits its turn; before
		// signing, so the signature is as fresh as the attempt.
		if _, ok := s.Finalize.Get("Retry"); ok {
			return s.Finalize.Insert(pacer{g}, "Retry", middleware.After)
		}
		return s.Finalize.Add(pacer{g}, middleware.After)
	}
}

type pacer struct{ g *ratelimit.Group }

// PaceID names the pacing middleware in the stack, for middleware that must
// run right after the wait for a slot.
const PaceID = "RotorPace"

func (pacer) ID() string { return PaceID }

func (p pacer) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	l := p.g.For(awsmiddleware.GetOperationName(ctx))
	if err := l.Wait(ctx); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, err
	}
	out, md, err := next.HandleFinalize(ctx, in)
	switch {
	case err == nil:
		l.OnSuccess()
	case IsThrottle(err):
		l.OnThrottle()
	case answered(err):
		// A validation error or a missing pipeline: the server had room.
		l.OnSuccess()
	}
	return out, md, err
}

// answered reports an error the server sent with a 4xx status.
func answered(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500
}
