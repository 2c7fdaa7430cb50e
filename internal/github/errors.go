package github

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"
)

var (
	// ErrBadCredentials: GitHub refused the token itself (401).
	ErrBadCredentials = errors.New("GitHub says Bad credentials: the token is revoked, expired or mistyped")
	// ErrNoAccess: the token cannot see a repository (GitHub answers 404).
	ErrNoAccess = errors.New("no access")
	// ErrNotFound: an installation or other named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrRevocationUnsupported: this GitHub has no credential revocation API
	// (older GitHub Enterprise Server), so a person must delete the token.
	ErrRevocationUnsupported = errors.New("this GitHub cannot revoke credentials through its API")
	// ErrRateLimited: GitHub's rate limit lasts longer than rotor waits.
	ErrRateLimited = errors.New("GitHub rate limit reached")
)

// APIError is a GitHub error answer, reduced to what is safe to show: the
// request line, the status and GitHub's message. No header, no body beyond
// the message, no token.
type APIError struct {
	Method  string
	URL     string // without query string
	Status  int
	Message string
	Errors  []string // GitHub's field errors (422), e.g. "repositories: invalid"
	DocURL  string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d", e.Method, e.URL, e.Status)
	if e.Message != "" {
		msg += " " + e.Message
	}
	for _, fe := range e.Errors {
		msg += "; " + fe
	}
	return msg
}

// RateLimitError says how long GitHub asked rotor to wait.
type RateLimitError struct {
	APIError
	Until time.Time // zero when GitHub did not say
}

func (e *RateLimitError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("%v: %v", ErrRateLimited, &e.APIError)
	}
	return fmt.Sprintf("%v until %s: %v", ErrRateLimited, e.Until.UTC().Format(time.TimeOnly+" UTC"), &e.APIError)
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// status is the HTTP status of a sanitised error, or 0.
func status(err error) int {
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae.Status
	}
	if rl, ok := errors.AsType[*RateLimitError](err); ok {
		return rl.Status
	}
	return 0
}

// sanitize turns what go-github returns into errors that are safe to print:
// go-github's error types hold the whole *http.Response, headers included.
func sanitize(err error) error {
	if err == nil {
		return nil
	}
	if er, ok := errors.AsType[*gh.ErrorResponse](err); ok {
		e := apiError(er.Response, er.Message, er.Errors, er.DocumentationURL)
		if e.Status == http.StatusTooManyRequests ||
			(e.Status == http.StatusForbidden && strings.Contains(strings.ToLower(e.Message), "rate limit")) {
			return &RateLimitError{APIError: *e}
		}
		return e
	}
	if rl, ok := errors.AsType[*gh.RateLimitError](err); ok {
		return &RateLimitError{APIError: *apiError(rl.Response, rl.Message, nil, ""), Until: rl.Rate.Reset.Time}
	}
	if ab, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		e := &RateLimitError{APIError: *apiError(ab.Response, ab.Message, nil, "")}
		if ab.RetryAfter != nil {
			e.Until = time.Now().Add(*ab.RetryAfter)
		}
		return e
	}
	if tf, ok := errors.AsType[*gh.TwoFactorAuthError](err); ok {
		return apiError(tf.Response, tf.Message, nil, tf.DocumentationURL)
	}
	if re, ok := errors.AsType[*gh.RedirectionError](err); ok {
		return apiError(re.Response, "unexpected redirect", nil, "")
	}
	return err // network errors (*url.Error, URL already sanitised) and context errors
}

func apiError(r *http.Response, msg string, fieldErrs []gh.Error, doc string) *APIError {
	e := &APIError{Message: msg, DocURL: doc}
	if r != nil {
		e.Status = r.StatusCode
		if r.Request != nil && r.Request.URL != nil {
			e.Method = r.Request.Method
			u := *r.Request.URL
			u.RawQuery, u.User, u.Fragment = "", nil, ""
			e.URL = u.String()
		}
	}
	for _, fe := range fieldErrs {
		s := fe.Message
		if s == "" {
			s = fe.Code
		}
		if fe.Field != "" {
			s = fe.Field + ": " + s
		}
		e.Errors = append(e.Errors, s)
	}
	return e
}
