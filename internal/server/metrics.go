package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

// metrics holds the daemon's Prometheus registry. Gauges about credentials
// are read from the store at scrape time (the collector below), so they are
// always what `rotor status` would say; counters count what this process
// did since it started.
type metrics struct {
	reg       *prometheus.Registry
	rotations *prometheus.CounterVec
	apiErrors *prometheus.CounterVec
	storeErrs prometheus.Counter
	alerts    *prometheus.CounterVec
	durations *prometheus.HistogramVec
	stopped   *prometheus.CounterVec

	mu      sync.Mutex
	counted map[string]countedRun // credential → the run whose stopped executions were counted
}

// countedRun remembers which stopped executions of a run were counted, so
// that a run looked at twice (finished, then its stragglers moved) counts
// each once.
type countedRun struct {
	id   int64
	keys map[string]bool
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotor_rotations_total",
			Help: "Rotations this process finished, by credential and result (succeeded, failed, rolled_back)."}, []string{"credential", "result"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotor_api_errors_total",
			Help: "Failed calls to outside services (github, codepipeline, secretsmanager, ...) that failed a run or a watch."}, []string{"service"}),
		storeErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "rotor_store_errors_total",
			Help: "Reads or writes of the store that failed (locked, unreachable); the work is retried."}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotor_alerts_total",
			Help: "Alert deliveries after retries, by destination (type:host) and result (sent, failed)."}, []string{"destination", "result"}),
		// Runs take seconds (a file, a secret) to many minutes (verify:
		// execution waits for a pipeline's source action).
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rotor_run_duration_seconds",
			Help:    "Duration of the runs this process finished, from start to finish as the store recorded them, by credential and result.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}}, []string{"credential", "result"}),
		stopped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rotor_executions_stopped_total",
			Help: "Executions in progress that this process's runs stopped by updating their pipeline, as the target's policy allowed (in_flight: interrupt, on_expiry: interrupt), by credential and target type."}, []string{"credential", "target"}),
		counted: map[string]countedRun{},
	}
	m.reg.MustRegister(m.rotations, m.apiErrors, m.storeErrs, m.alerts, m.durations, m.stopped, &stateCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.deps.AWSCalls != nil {
		m.reg.MustRegister(s.deps.AWSCalls)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// finished counts a run this process finished.
func (m *metrics) finished(run rotation.Run, took time.Duration) {
	m.rotations.WithLabelValues(run.Credential, string(run.Status)).Inc()
	if !run.StartedAt.IsZero() && !run.FinishedAt.IsZero() {
		took = run.FinishedAt.Sub(run.StartedAt) // a resumed run began before this process took it over
	}
	m.durations.WithLabelValues(run.Credential, string(run.Status)).Observe(took.Seconds())
}

// executionsStopped counts the executions the bindings of run stopped that
// were not counted yet.
func (m *metrics) executionsStopped(credential string, runID int64, states []rotation.BindingState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counted[credential]
	if c.id != runID {
		c = countedRun{id: runID, keys: map[string]bool{}}
		m.counted[credential] = c
	}
	for _, st := range states {
		for _, x := range st.Interrupted {
			k := st.Binding.Resource + "\x00" + x
			if !c.keys[k] {
				c.keys[k] = true
				m.stopped.WithLabelValues(credential, st.Binding.Target).Inc()
			}
		}
	}
}

func (m *metrics) apiError(service string) { m.apiErrors.WithLabelValues(service).Inc() }
func (m *metrics) storeError()             { m.storeErrs.Inc() }

// storeErrorIf counts err as a store error when it looks like one.
func (m *metrics) storeErrorIf(err error) {
	msg := err.Error()
	if strings.Contains(msg, "persist step") || strings.Contains(msg, "database") || strings.Contains(msg, "store") || errors.Is(err, context.DeadlineExceeded) {
		m.storeError()
	}
}

func (m *metrics) alertDelivered(dest string, err error) {
	result := "sent"
	if err != nil {
		result = "failed"
	}
	m.alerts.WithLabelValues(dest, result).Inc()
}

// Gauges of points in time are Unix timestamps (`*_timestamp_seconds`),
// as Prometheus convention asks: a scrape stores a fact that stays true,
// and `time() - x` or `x - time()` gives the age or the time left in any
// query, where a "seconds until" gauge would be stale the moment it was
// scraped.
var (
	descCreated = prometheus.NewDesc("rotor_credential_created_timestamp_seconds",
		"When the credential's current token was created (Unix time); its age is time() minus this.", []string{"credential"}, nil)
	descExpiry = prometheus.NewDesc("rotor_credential_expires_timestamp_seconds",
		"When the current token expires (Unix time); absent when it does not expire.", []string{"credential"}, nil)
	descDue = prometheus.NewDesc("rotor_credential_next_due_timestamp_seconds",
		"When the credential is next due for rotation (Unix time; at or before time(): due now), and why.", []string{"credential", "reason"}, nil)
	descWaiting = prometheus.NewDesc("rotor_credential_waiting_for_person",
		"1 when rotor needs a person to act (a personal token is due, or a credential must be adopted).", []string{"credential", "reason"}, nil)
	descHealth = prometheus.NewDesc("rotor_credential_health",
		"1 for the credential's overall health state (healthy, degraded, unhealthy, rotating, needs_person, migrated), 0 for the others: what the dashboard's Health column shows.", []string{"credential", "state"}, nil)
	descLastOK = prometheus.NewDesc("rotor_last_run_success",
		"1 if the credential's last finished run succeeded, 0 if not.", []string{"credential"}, nil)
	descLastDur = prometheus.NewDesc("rotor_last_run_duration_seconds",
		"Duration of the credential's last finished run.", []string{"credential"}, nil)
	descLastEnd = prometheus.NewDesc("rotor_last_run_finished_timestamp_seconds",
		"When the credential's last finished run ended (Unix time).", []string{"credential"}, nil)
	descBindings = prometheus.NewDesc("rotor_bindings",
		"Bindings of the credential by target type and health: healthy (on the current token, verified, or left on it by a clean rollback), waiting (a straggler on the previous, live token), rotating (a run is open), unhealthy (a write failed and was not undone, a straggler's move failed, or the watcher saw drift).", []string{"credential", "target", "state"}, nil)
	descStragglers = prometheus.NewDesc("rotor_bindings_waiting",
		"Stragglers: bindings still on the previous token (it is not retired until they move), by target type and status (waiting for their pipeline to be idle; failed or refused when a move failed).", []string{"credential", "target", "status"}, nil)
	descAccounts = prometheus.NewDesc("rotor_account_bindings",
		"Bindings of the credential's newest run in each AWS account and region, by status, for a target that spans several (accounts:, aws_organization:); absent for one place.", []string{"credential", "account", "region", "status"}, nil)
	descWaitSince = prometheus.NewDesc("rotor_bindings_waiting_since_timestamp_seconds",
		"Since when the oldest straggler has waited (Unix time); absent without stragglers.", []string{"credential"}, nil)
	descInterrupted = prometheus.NewDesc("rotor_last_run_interrupted_executions",
		"Executions in progress the credential's newest run stopped, as its target's policy allowed (in_flight: interrupt, on_expiry: interrupt).", []string{"credential"}, nil)
	descTokenOK = prometheus.NewDesc("rotor_token_healthy",
		"1 if the watcher's last check of the current token passed, 0 if GitHub refused it; absent before the first check of the current token.", []string{"credential"}, nil)
	descRevocations = prometheus.NewDesc("rotor_revocations",
		"The credential's old tokens in the revocation queue of GitHub's credential revocation API (60 calls an hour, shared by every credential and replica), by state: queued (waiting for a call), sent (awaiting confirmation by GET /user), alive (GitHub still accepted it after its revocation: alerted, a person must delete it).", []string{"credential", "state"}, nil)
	descRevokeSince = prometheus.NewDesc("rotor_revocations_oldest_queued_timestamp_seconds",
		"When the oldest of the credential's queued or sent revocations was queued (Unix time); absent when none waits.", []string{"credential"}, nil)
	descUp = prometheus.NewDesc("rotor_status_up",
		"1 if the store could be read for this scrape.", nil, nil)
)

// stateCollector reads every credential's state from the store at scrape
// time.
type stateCollector struct{ s *Server }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCreated, descExpiry, descDue, descWaiting, descHealth, descLastOK, descLastDur, descLastEnd, descBindings, descAccounts, descStragglers, descWaitSince, descInterrupted, descTokenOK, descRevocations, descRevokeSince, descUp} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := s.opts.Now().UTC()
	all, err := status.Collect(ctx, s.cfg, s.deps.Store, now)
	if err != nil {
		s.m.storeError()
		s.log.Error("metrics: read store", "err", err)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i, v := range all {
		name := v.Name
		view := s.view(s.cfg.Credentials[i], v)
		if v.Current != nil {
			gauge(descCreated, unix(v.Current.CreatedAt), name)
			if !v.Current.ExpiresAt.IsZero() {
				gauge(descExpiry, unix(v.Current.ExpiresAt), name)
			}
		}
		if view.DueAt != nil {
			gauge(descDue, unix(*view.DueAt), name, view.DueReason)
		}
		if view.Waiting != "" {
			gauge(descWaiting, 1, name, view.Waiting)
		}
		for _, st := range []string{StateHealthy, StateDegraded, StateUnhealthy, StateRotating, StateNeedsPerson, StateMigrated} {
			gauge(descHealth, boolGauge(view.Health.State == st), name, st)
		}
		if r := v.LastRun; r != nil {
			gauge(descLastOK, boolGauge(r.Status == rotation.RunSucceeded), name)
			gauge(descLastDur, r.FinishedAt.Sub(r.StartedAt).Seconds(), name)
			gauge(descLastEnd, unix(r.FinishedAt), name)
		}
		for target, counts := range view.Health.byTarget() {
			for st, n := range counts {
				gauge(descBindings, float64(n), name, target, string(st))
			}
		}
		for _, a := range v.Accounts {
			for st, n := range a.Bindings {
				gauge(descAccounts, float64(n), name, a.Account, a.Region, st)
			}
		}
		type key struct{ target, status string }
		stragglers := map[key]int{}
		var since time.Time
		for _, st := range v.Stragglers {
			stragglers[key{st.Target, st.Status}]++
			if since.IsZero() || st.Since.Before(since) {
				since = st.Since
			}
		}
		for k, n := range stragglers {
			gauge(descStragglers, float64(n), name, k.target, k.status)
		}
		if !since.IsZero() {
			gauge(descWaitSince, unix(since), name)
		}
		gauge(descInterrupted, float64(v.Interrupted), name)
		if ts := tokenState(v, view.Watch); ts == HealthOK || ts == HealthBroken {
			gauge(descTokenOK, boolGauge(ts == HealthOK), name)
		}
		var rv status.Revocations
		if v.Revocations != nil {
			rv = *v.Revocations
		}
		gauge(descRevocations, float64(rv.Queued), name, "queued")
		gauge(descRevocations, float64(rv.Sent), name, "sent")
		gauge(descRevocations, float64(len(rv.Alive)), name, "alive")
		if !rv.OldestAt.IsZero() {
			gauge(descRevokeSince, unix(rv.OldestAt), name)
		}
	}
}

// unix is t as a Prometheus timestamp gauge: seconds, millisecond precision.
func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
