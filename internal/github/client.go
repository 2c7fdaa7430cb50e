package github

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/lease"
)

// Client asks one GitHub (github.com, an Enterprise Server or the emulator)
// about tokens. It holds no token: each call is given the one to use.
type Client struct {
	base  string // API base URL with a trailing slash
	http  *http.Client
	agent string
}

type options struct {
	http   *http.Client
	agent  string
	policy RetryPolicy
	clock  Clock
}

// Option configures New.
type Option func(*options)

// WithHTTPClient sends requests through c (its transport, proxy, TLS).
// rotor adds its retries around c's transport.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.http = c } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(o *options) { o.agent = ua } }

// WithRetryPolicy replaces DefaultRetryPolicy; zero fields keep the default.
func WithRetryPolicy(p RetryPolicy) Option { return func(o *options) { o.policy = p } }

// WithClock replaces the clock that retry waits use.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// New returns a client for the REST API at apiURL: https://api.github.com,
// https://HOST/api/v3 for GitHub Enterprise Server, or the emulator's URL.
func New(apiURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github api url %q: want an http(s) URL", apiURL)
	}
	o := options{agent: "rotor", clock: realClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	o.policy = withDefaults(o.policy)
	hc := &http.Client{}
	if o.http != nil {
		c := *o.http
		hc = &c
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &retryTransport{base: leaseGuardedRT{base}, policy: o.policy, clock: o.clock}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return &Client{base: u.String(), http: hc, agent: o.agent}, nil
}

func withDefaults(p RetryPolicy) RetryPolicy {
	d := DefaultRetryPolicy
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.BaseDelay > 0 {
		d.BaseDelay = p.BaseDelay
	}
	if p.MaxDelay > 0 {
		d.MaxDelay = p.MaxDelay
	}
	if p.MaxWait > 0 {
		d.MaxWait = p.MaxWait
	}
	if p.AttemptTimeout > 0 {
		d.AttemptTimeout = p.AttemptTimeout
	}
	return d
}

// BaseURL is the API base URL, with a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// api builds a go-github client that authenticates with auth ("" for none).
// One per call, because go-github keeps rate-limit state per client and
// GitHub keeps it per token; rotor's transport does the waiting instead.
func (c *Client) api(auth string) *gh.Client {
	opts := []gh.ClientOptionsFunc{
		gh.WithHTTPClient(c.http),
		gh.WithURLs(&c.base, &c.base),
		gh.WithUserAgent(c.agent),
		gh.WithDisableRateLimitCheck(),
	}
	if auth != "" {
		opts = append(opts, gh.WithAuthToken(auth))
	}
	g, err := gh.NewClient(opts...)
	if err != nil {
		// Only invalid options fail, and New validated them.
		panic("github: " + err.Error())
	}
	return g
}

var errEmptyToken = errors.New("no token given")

// leaseGuardedRT refuses to send a request once the run's lease may have
// lapsed (see package lease), so a process stalled past its lease mints or
// revokes nothing when it wakes.
type leaseGuardedRT struct{ http.RoundTripper }

func (g leaseGuardedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := lease.Check(r.Context()); err != nil {
		return nil, err
	}
	return g.RoundTripper.RoundTrip(r)
}
