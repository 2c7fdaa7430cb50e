package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds how hard rotor tries one request.
type RetryPolicy struct {
	// MaxAttempts is the most tries of one request, the first included.
	MaxAttempts int
	// BaseDelay is the first backoff after a server or network error; each
	// later one doubles, up to MaxDelay, with jitter.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxWait is the longest rotor waits for a rate limit to lift before it
	// gives up with ErrRateLimited instead.
	MaxWait time.Duration
	// AttemptTimeout bounds one try (request and response body).
	AttemptTimeout time.Duration
}

// DefaultRetryPolicy: four tries, 1 s doubling to 30 s, rate-limit waits up
// to 2 minutes, 30 s per try.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 30 * time.Second, MaxWait: 2 * time.Minute, AttemptTimeout: 30 * time.Second}

// secondaryWait is GitHub's advice when a secondary rate limit comes
// without retry-after: wait at least a minute, then back off.
const secondaryWait = time.Minute

// Clock is the time source the retry waits use; tests pass a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends, whichever is first.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxBody bounds what rotor reads of any GitHub response.
const maxBody = 10 << 20

// retryTransport retries one request within the policy. It sits under
// go-github, so go-github sees only the final answer.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
	clock  Clock
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		resp, err := t.try(req, attempt)
		wait, retry := t.decide(req, resp, err, attempt)
		if !retry {
			return resp, err
		}
		if resp != nil {
			resp.Body.Close()
		}
		if err := t.clock.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// try sends one attempt and reads the whole body, so that the attempt's
// timeout cannot cut the body off after RoundTrip returns.
func (t *retryTransport) try(req *http.Request, attempt int) (*http.Response, error) {
	r := req
	if attempt > 1 && req.Body != nil {
		if req.GetBody == nil {
			return nil, errors.New("request body cannot be sent again")
		}
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r = req.Clone(req.Context())
		r.Body = body
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.attemptTimeout(r))
	defer cancel()
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

// attemptTimeout bounds one try of r: AttemptTimeout, except that a request
// that is never sent twice (not idempotent: decide retries it only when it
// never left) gets the caller's deadline when that is later. Such a request
// creates something, an installation token above all, and its answer may
// already wait in the socket when a paused process wakes: the attempt's
// timer fires on waking too, and if it won the race the token would be
// live in GitHub and nowhere in rotor (seen in the HA test, a replica
// frozen for 32 s right after its mint request left). The minting sources
// give their request two minutes (rotation.Detached); longer deadlines are
// cut to maxSingleAttempt, so that a hung GitHub holds no such request for
// a whole run.
func (t *retryTransport) attemptTimeout(r *http.Request) time.Duration {
	d := t.policy.AttemptTimeout
	if idempotent(r) {
		return d
	}
	if dl, ok := r.Context().Deadline(); ok {
		d = max(d, min(time.Until(dl), maxSingleAttempt))
	}
	return d
}

// maxSingleAttempt bounds a request that is never sent twice.
const maxSingleAttempt = 2 * time.Minute

// decide says whether to try again and after how long.
func (t *retryTransport) decide(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if req.Context().Err() != nil || attempt >= t.policy.MaxAttempts {
		return 0, false
	}
	if err != nil {
		// A request that never reached GitHub is always safe to send again;
		// one that may have is only if sending it twice does no harm.
		if !idempotent(req) && !neverSent(err) {
			return 0, false
		}
		return t.backoff(attempt), true
	}
	switch c := resp.StatusCode; {
	case c == http.StatusForbidden || c == http.StatusTooManyRequests:
		wait, limited := t.rateLimitWait(resp, attempt)
		if !limited || wait > t.policy.MaxWait {
			return 0, false // a plain 403, or a wait too long: report it
		}
		return wait, true // GitHub did not act on the request: safe to resend
	case c >= 500 && idempotent(req):
		return t.backoff(attempt), true
	}
	return 0, false
}

// idempotent: sending the request twice has the effect of sending it once.
// Creating an installation token is not: a retried POST after a 5xx could
// leave a live token that nobody uses.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodPut, http.MethodOptions:
		return true
	}
	return strings.HasSuffix(req.URL.Path, "/credentials/revoke")
}

func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.policy.BaseDelay << (attempt - 1)
	if d > t.policy.MaxDelay || d <= 0 {
		d = t.policy.MaxDelay
	}
	// Up to 20% jitter, so that many rotor processes do not retry in step.
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// rateLimitWait reads how long GitHub asks to wait. limited is false for a
// 403 that is not about rate limits (a permission refusal).
func (t *retryTransport) rateLimitWait(resp *http.Response, attempt int) (time.Duration, bool) {
	h := resp.Header
	if ra := h.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if at, err := http.ParseTime(ra); err == nil {
			return max(at.Sub(t.clock.Now()), 0), true
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			// One second past the reset, because clocks differ.
			return max(time.Unix(s, 0).Sub(t.clock.Now())+time.Second, 0), true
		}
		return secondaryWait, true
	}
	if resp.StatusCode == http.StatusTooManyRequests || secondaryLimitBody(resp) {
		return secondaryWait << (attempt - 1), true
	}
	return 0, false
}

func secondaryLimitBody(resp *http.Response) bool {
	data, err := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if err != nil {
		return false
	}
	var body struct {
		Message string `json:"message"`
		Doc     string `json:"documentation_url"`
	}
	if json.Unmarshal(data, &body) != nil {
		return false
	}
	return strings.Contains(strings.ToLower(body.Message), "secondary rate limit") ||
		strings.HasSuffix(body.Doc, "secondary-rate-limits") || strings.HasSuffix(body.Doc, "#abuse-rate-limits")
}
