package awsx

import (
	"context"
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/rotor-ci/rotor/internal/token"
)

// Error is an AWS error with nothing in it that could carry a secret: the
// service, the operation, the error code, the service's message (with
// anything shaped like a GitHub token and any secret the caller names cut
// out), the HTTP status and the request id (what AWS support asks for).
//
// It unwraps only to context.Canceled, context.DeadlineExceeded or
// ErrNoCredentials, never to
// the SDK's error, whose text may include a response snapshot.
type Error struct {
	Service   string // "CodePipeline"
	Operation string // "UpdatePipeline"
	Code      string // "ThrottlingException"; empty for transport errors
	Message   string
	Status    int // HTTP status; 0 when no response came back
	RequestID string
	cause     error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Service != "" || e.Operation != "" {
		b.WriteString(strings.TrimSpace(e.Service + " " + e.Operation))
		b.WriteString(": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Message != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Message)
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.cause }

// Sanitize turns any error from an AWS SDK call into an *Error, cutting out
// any of secrets that appears in it and anything shaped like a GitHub token.
// A nil error stays nil; an *Error passes through (scrubbed again).
func Sanitize(err error, secrets ...token.Token) error {
	if err == nil {
		return nil
	}
	e := &Error{}
	var prev *Error
	if errors.As(err, &prev) {
		*e = *prev
	} else {
		fill(e, err)
	}
	e.Message = scrub(e.Message, secrets)
	return e
}

func fill(e *Error, err error) {
	var op *smithy.OperationError
	if errors.As(err, &op) {
		e.Service, e.Operation = op.ServiceID, op.OperationName
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		e.RequestID = resp.ServiceRequestID()
		if resp.Response != nil {
			e.Status = resp.Response.StatusCode
		}
	}
	var api smithy.APIError
	var de *smithy.DeserializationError
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		e.cause, e.Message = context.Canceled, context.Canceled.Error()
	case errors.Is(err, context.DeadlineExceeded):
		e.cause, e.Message = context.DeadlineExceeded, context.DeadlineExceeded.Error()
	case errors.Is(err, ErrNoCredentials):
		e.cause, e.Message = ErrNoCredentials, ErrNoCredentials.Error()
	case errors.As(err, &api):
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
	case errors.As(err, &de):
		// Its text can include a snapshot of the response body.
		e.Message = "could not decode the response"
	case errors.As(err, &ue):
		// The URL is the endpoint; AWS JSON carries everything else in the body.
		e.Message = ue.Error()
	case errors.As(err, &ne):
		e.Message = ne.Error()
	default:
		e.Message = innermost(err).Error()
	}
}

// innermost drops the SDK's wrapping ("operation error …, https response
// error …") that Error already says in its own fields.
func innermost(err error) error {
	for {
		var next error
		switch w := err.(type) {
		case *smithy.OperationError:
			next = w.Err
		case *awshttp.ResponseError:
			next = w.Err
		case *retry.MaxAttemptsError:
			next = w.Err
		}
		if next == nil {
			return err
		}
		err = next
	}
}

// tokenShape matches every GitHub token kind rotor knows.
var tokenShape = regexp.MustCompile(`(gh[pousr]_[A-Za-z0-9._]{20,}|github_pat_[A-Za-z0-9_]{20,})`)

const maxMessage = 512

func scrub(msg string, secrets []token.Token) string {
	for _, s := range secrets {
		if !s.IsZero() {
			msg = strings.ReplaceAll(msg, s.Reveal(), s.Redacted())
		}
	}
	msg = tokenShape.ReplaceAllStringFunc(msg, func(v string) string { return token.New(v).Redacted() })
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + "…"
	}
	return msg
}

// Code returns the AWS error code of err ("PipelineNotFoundException"), or "".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// IsCode reports whether err carries one of codes.
func IsCode(err error, codes ...string) bool {
	c := Code(err)
	for _, want := range codes {
		if c != "" && c == want {
			return true
		}
	}
	return false
}

// IsThrottle reports whether err is a throttle by the SDK's own list
// (ThrottlingException, LimitExceededException, TooManyRequestsException…).
func IsThrottle(err error) bool {
	if err == nil {
		return false
	}
	if c := Code(err); c != "" {
		_, ok := retry.DefaultThrottleErrorCodes[c]
		return ok
	}
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool()
}
