package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotor-ci/rotor/internal/ratelimit"
)

// AWSCalls counts the paced AWS calls of every run and watch of the process
// by service, operation, account, region and result, and keeps each
// operation's limiter rate as last seen: which account is throttled, and
// how fast rotor lets itself call it. Targets and their limiters are built
// per run, so what is counted lives here, for the life of the process.
//
// cli builds one, gives Observe to wiring (wiring.WithAWSCalls) and the
// AWSCalls to Deps, whose /metrics then shows it. Labels are bounded sets
// (operations, accounts, regions), never a pipeline's name. Safe for
// concurrent use.
type AWSCalls struct {
	calls *prometheus.CounterVec
	rate  *prometheus.GaugeVec
}

// NewAWSCalls returns counters with no series yet.
func NewAWSCalls() *AWSCalls {
	return &AWSCalls{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotor_aws_calls_total",
			Help: "Attempts of paced AWS calls (codepipeline), retries included, by service, operation, account, region and result: " +
				"ok, throttled (the limiter slows down), error (any other failure: a 4xx such as a missing pipeline, a 5xx, no answer). " +
				`account is "" for the calls a target makes before anything names its account (the first discovery of a target without role_arn).`},
			[]string{"service", "operation", "account", "region", "result"}),
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rotor_aws_rate_limit",
			Help: "Calls per second that rotor's adaptive limiter allowed for the operation in the account and region, as of the most recent paced call " +
				"(each run starts a limiter of its own, which grows until the service throttles)."},
			[]string{"service", "operation", "account", "region"}),
	}
}

// Observe counts one attempt (wiring.WithAWSCalls).
func (a *AWSCalls) Observe(c ratelimit.Call) {
	a.calls.WithLabelValues(c.Service, c.Operation, c.Account, c.Region, c.Result).Inc()
	if c.Rate > 0 { // 0: an unpaced call, which says nothing of the limiter
		a.rate.WithLabelValues(c.Service, c.Operation, c.Account, c.Region).Set(c.Rate)
	}
}

// Describe and Collect make AWSCalls one prometheus.Collector.
func (a *AWSCalls) Describe(ch chan<- *prometheus.Desc) { a.calls.Describe(ch); a.rate.Describe(ch) }
func (a *AWSCalls) Collect(ch chan<- prometheus.Metric) { a.calls.Collect(ch); a.rate.Collect(ch) }
