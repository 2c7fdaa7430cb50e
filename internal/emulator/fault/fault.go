// Package fault injects latency, errors, throttling and named-resource
// failures into the emulators, so that tests and benchmarks can make the
// cloud misbehave the way it does in production.
//
// Each emulator asks Decide once per request and maps the Outcome to its own
// wire shape; the rules themselves are service-neutral.
package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is one fault. Zero fields mean "no such fault".
type Rule struct {
	Service       string    `json:"service,omitempty" yaml:"service,omitempty"`     // "github", "codepipeline", "" = any
	Operation     string    `json:"operation,omitempty" yaml:"operation,omitempty"` // "UpdatePipeline", "GET /user"; "" or "*" = any
	Resource      string    `json:"resource,omitempty" yaml:"resource,omitempty"`   // pipeline name, "owner/repo"; "" = any
	Latency       Duration  `json:"latency,omitempty" yaml:"latency,omitempty"`
	ErrorRate     float64   `json:"error_rate,omitempty" yaml:"error_rate,omitempty"`           // 0..1 answered with a 5xx
	RatePerSecond float64   `json:"rate_per_second,omitempty" yaml:"rate_per_second,omitempty"` // token bucket per (service, operation)
	Burst         int       `json:"burst,omitempty" yaml:"burst,omitempty"`                     // bucket size, default 1
	Fail          bool      `json:"fail,omitempty" yaml:"fail,omitempty"`                       // always fail matching requests
	Until         time.Time `json:"until,omitzero" yaml:"until,omitempty"`                      // the rule lapses after this instant
}

// Validate reports a rule that cannot mean anything.
func (r Rule) Validate() error {
	switch {
	case r.ErrorRate < 0 || r.ErrorRate > 1:
		return fmt.Errorf("fault rule: error_rate %v is not between 0 and 1", r.ErrorRate)
	case r.RatePerSecond < 0:
		return fmt.Errorf("fault rule: rate_per_second %v is negative", r.RatePerSecond)
	case r.Burst < 0:
		return fmt.Errorf("fault rule: burst %d is negative", r.Burst)
	case r.Latency.Duration < 0:
		return fmt.Errorf("fault rule: latency %v is negative", r.Latency)
	}
	return nil
}

func (r Rule) matches(service, op, resource string, now time.Time) bool {
	if r.Service != "" && r.Service != service {
		return false
	}
	if r.Operation != "" && r.Operation != "*" && r.Operation != op {
		return false
	}
	if r.Resource != "" && r.Resource != resource {
		return false
	}
	return r.Until.IsZero() || now.Before(r.Until)
}

// Duration is a time.Duration that reads and writes as "20ms".
type Duration struct{ time.Duration }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

// Outcome tells the emulator how to answer a request.
type Outcome int

const (
	Pass        Outcome = iota
	Throttle            // rate limited: ThrottlingException, 403/429 with retry-after
	ServerError         // a 5xx
	Fail                // the named resource fails
)

func (o Outcome) String() string {
	return [...]string{"pass", "throttle", "server-error", "fail"}[o]
}

// Count is what happened to the requests of one operation.
type Count struct {
	Requests     int64 `json:"requests"`
	Throttled    int64 `json:"throttled"`
	ServerErrors int64 `json:"server_errors"`
	Failed       int64 `json:"failed"`
}

// Injector holds the rules and the counts. Safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	rules   []Rule
	buckets map[string]*rate.Limiter // per rule index + service + operation
	counts  map[string]*Count        // "service operation"
	now     func() time.Time
}

// New returns an injector with rules; it panics on none of them, so validate
// rules from outside with Rule.Validate first.
func New(rules ...Rule) *Injector {
	i := &Injector{counts: map[string]*Count{}, now: time.Now}
	i.SetRules(rules)
	return i
}

// SetRules replaces every rule and resets the token buckets.
func (i *Injector) SetRules(rules []Rule) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules = append([]Rule(nil), rules...)
	i.buckets = map[string]*rate.Limiter{}
}

// Rules returns a copy of the rules in force.
func (i *Injector) Rules() []Rule {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]Rule(nil), i.rules...)
}

// Decide counts the request, sleeps any matching latency (returning Pass early
// if ctx ends) and says how to answer. A nil Injector passes everything.
func (i *Injector) Decide(ctx context.Context, service, operation, resource string) Outcome {
	if i == nil {
		return Pass
	}
	var latency time.Duration
	out := Pass
	i.mu.Lock()
	now := i.now()
	key := service + " " + operation
	c := i.counts[key]
	if c == nil {
		c = &Count{}
		i.counts[key] = c
	}
	c.Requests++
	for n, r := range i.rules {
		if !r.matches(service, operation, resource, now) {
			continue
		}
		latency += r.Latency.Duration
		if out != Pass {
			continue
		}
		switch {
		case r.Fail:
			out = Fail
		case r.RatePerSecond > 0 && !i.bucket(n, r, key).AllowN(now, 1):
			out = Throttle
		case r.ErrorRate > 0 && rand.Float64() < r.ErrorRate:
			out = ServerError
		}
	}
	switch out {
	case Throttle:
		c.Throttled++
	case ServerError:
		c.ServerErrors++
	case Fail:
		c.Failed++
	}
	i.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Pass
		}
	}
	return out
}

// bucket is the token bucket of one rule for one operation; a rule without an
// operation throttles each operation separately, as AWS does.
func (i *Injector) bucket(n int, r Rule, key string) *rate.Limiter {
	k := fmt.Sprintf("%d/%s", n, key)
	b := i.buckets[k]
	if b == nil {
		burst := max(r.Burst, 1)
		b = rate.NewLimiter(rate.Limit(r.RatePerSecond), burst)
		i.buckets[k] = b
	}
	return b
}

// Counts returns a copy of the counts, keyed "service operation".
func (i *Injector) Counts() map[string]Count {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]Count, len(i.counts))
	for k, c := range i.counts {
		out[k] = *c
	}
	return out
}

// ResetCounts forgets every count.
func (i *Injector) ResetCounts() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.counts = map[string]*Count{}
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "20ms" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return d.UnmarshalText([]byte(s))
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string like \"20ms\": %w", err)
	}
	d.Duration = time.Duration(n)
	return nil
}
