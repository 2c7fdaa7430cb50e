package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
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
	}
	m.reg.MustRegister(m.rotations, m.apiErrors, m.storeErrs, m.alerts, &stateCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) rotation(credential, result string) {
	m.rotations.WithLabelValues(credential, result).Inc()
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

var (
	descAge = prometheus.NewDesc("rotor_credential_age_seconds",
		"Age of the credential's current token.", []string{"credential"}, nil)
	descExpiry = prometheus.NewDesc("rotor_credential_expiry_seconds",
		"Seconds until the current token expires (negative: expired); absent when it does not expire.", []string{"credential"}, nil)
	descDue = prometheus.NewDesc("rotor_credential_next_due_seconds",
		"Seconds until the credential is next due for rotation (0 or negative: due now).", []string{"credential", "reason"}, nil)
	descWaiting = prometheus.NewDesc("rotor_credential_waiting_for_person",
		"1 when rotor needs a person to act (a personal token is due, or a credential must be adopted).", []string{"credential", "reason"}, nil)
	descLastOK = prometheus.NewDesc("rotor_last_run_success",
		"1 if the credential's last finished run succeeded, 0 if not.", []string{"credential"}, nil)
	descLastDur = prometheus.NewDesc("rotor_last_run_duration_seconds",
		"Duration of the credential's last finished run.", []string{"credential"}, nil)
	descLastEnd = prometheus.NewDesc("rotor_last_run_finished_timestamp_seconds",
		"When the credential's last finished run ended (Unix time).", []string{"credential"}, nil)
	descBindings = prometheus.NewDesc("rotor_bindings",
		"Bindings of the credential by health: verified in the newest run and not drifted since (healthy), or not.", []string{"credential", "state"}, nil)
	descTokenOK = prometheus.NewDesc("rotor_token_healthy",
		"1 if the watcher's last check of the current token passed, 0 if GitHub refused it; absent before the first check.", []string{"credential"}, nil)
	descUp = prometheus.NewDesc("rotor_status_up",
		"1 if the store could be read for this scrape.", nil, nil)
)

// stateCollector reads every credential's state from the store at scrape
// time.
type stateCollector struct{ s *Server }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAge, descExpiry, descDue, descWaiting, descLastOK, descLastDur, descLastEnd, descBindings, descTokenOK, descUp} {
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
			gauge(descAge, now.Sub(v.Current.CreatedAt).Seconds(), name)
			if !v.Current.ExpiresAt.IsZero() {
				gauge(descExpiry, v.Current.ExpiresAt.Sub(now).Seconds(), name)
			}
		}
		if view.DueIn != nil {
			gauge(descDue, *view.DueIn, name, view.DueReason)
		}
		if view.Waiting != "" {
			gauge(descWaiting, 1, name, view.Waiting)
		}
		if r := v.LastRun; r != nil {
			ok := 0.0
			if r.Status == rotation.RunSucceeded {
				ok = 1
			}
			gauge(descLastOK, ok, name)
			gauge(descLastDur, r.FinishedAt.Sub(r.StartedAt).Seconds(), name)
			gauge(descLastEnd, float64(r.FinishedAt.UnixMilli())/1000, name)
		}
		healthy, unhealthy := v.Healthy, v.Bindings-v.Healthy
		if w := view.Watch; w != nil && len(w.Bindings) > 0 {
			healthy, unhealthy = 0, 0
			for _, b := range w.Bindings {
				if b.State == HealthOK || b.State == HealthUnknown {
					healthy++
				} else {
					unhealthy++
				}
			}
		}
		gauge(descBindings, float64(healthy), name, "healthy")
		gauge(descBindings, float64(unhealthy), name, "unhealthy")
		if w := view.Watch; w != nil && (w.Token.State == HealthOK || w.Token.State == HealthBroken) {
			ok := 0.0
			if w.Token.State == HealthOK {
				ok = 1
			}
			gauge(descTokenOK, ok, name)
		}
	}
}
