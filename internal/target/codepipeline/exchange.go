package codepipeline

import (
	"bytes"
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
)

// exchange wraps the SDK's HTTP client for one call: it keeps the raw body of
// the last successful response and, when check is set, reads the request body
// before it leaves and refuses to send it when check fails.
type exchange struct {
	inner codepipeline.HTTPClient
	check func(body []byte) error

	mu   sync.Mutex
	body []byte
}

// option installs x for one call: client.GetPipeline(ctx, in, x.option).
func (x *exchange) option(o *codepipeline.Options) {
	x.inner = o.HTTPClient
	o.HTTPClient = x
}

func (x *exchange) Do(req *http.Request) (*http.Response, error) {
	if x.check != nil && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		if err := x.check(b); err != nil {
			clear(b)
			return nil, &refusal{err}
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := x.inner.Do(req)
	if err != nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	clear(x.body)
	x.body = b
	x.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// raw returns the last successful response body.
func (x *exchange) raw() []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.body
}

// wipe zeroes the captured body: a GetPipeline response from a service that
// does not mask (moto) holds every token of the pipeline.
func (x *exchange) wipe() {
	x.mu.Lock()
	defer x.mu.Unlock()
	clear(x.body)
	x.body = nil
}

// refusal is a request rotor would not send. The SDK must not retry it.
type refusal struct{ err error }

func (r *refusal) Error() string        { return r.err.Error() }
func (r *refusal) Unwrap() error        { return r.err }
func (r *refusal) RetryableError() bool { return false }
