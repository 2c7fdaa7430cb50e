package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/token"
)

// receiver is a webhook endpoint that fails its first `fail` requests with
// status, then records bodies.
type receiver struct {
	srv    *httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	bodies [][]byte
	got    chan struct{}
}

func newReceiver(t *testing.T, fail int32, status int) *receiver {
	r := &receiver{got: make(chan struct{}, 16)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.calls.Add(1)
		b, _ := io.ReadAll(req.Body)
		if req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", req.Header.Get("Content-Type"))
		}
		if n <= fail {
			w.WriteHeader(status)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func fastOpts() Options {
	return Options{Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Attempts: 5}
}

// run starts s and returns a function that stops it and waits.
func run(t *testing.T, s *Sender) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Second); close(done) }()
	return func() { cancel(); <-done }
}

func TestWebhook_Notify(t *testing.T) {
	r := newReceiver(t, 0, 0)
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	a := Alert{Event: EventRolledBack, Credential: "ci", Severity: Warning, Message: "apply failed", RunID: 7, Time: at}
	if err := (&Webhook{URL: r.srv.URL}).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(r.bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"event": "rotation_rolled_back", "credential": "ci", "severity": "warning", "message": "apply failed", "run_id": float64(7), "time": "2026-11-28T10:00:00Z"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("body (-want +got):\n%s", d)
	}
}

func TestSlack_Notify(t *testing.T) {
	r := newReceiver(t, 0, 0)
	a := Alert{Event: EventPersonalTokenDue, Credential: "ci", Severity: Info, Message: "create a new token", RunID: 3}
	if err := (&Slack{URL: r.srv.URL}).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(r.bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"text"}, keys(got)); d != "" {
		t.Errorf("keys (-want +got):\n%s", d)
	}
	for _, want := range []string{"personal_token_due", "`ci`", "create a new token", "run 3"} {
		if !strings.Contains(got["text"], want) {
			t.Errorf("text %q lacks %q", got["text"], want)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSender_Retry(t *testing.T) {
	tests := []struct {
		name      string
		fail      int32
		status    int
		wantCalls int32
		wantErr   bool
	}{
		{name: "fails twice then delivers", fail: 2, status: http.StatusServiceUnavailable, wantCalls: 3},
		{name: "throttled then delivers", fail: 1, status: http.StatusTooManyRequests, wantCalls: 2},
		{name: "down for good: bounded attempts", fail: 100, status: http.StatusBadGateway, wantCalls: 5, wantErr: true},
		{name: "client error: not retried", fail: 100, status: http.StatusNotFound, wantCalls: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, tt.fail, tt.status)
			results := make(chan error, 1)
			opts := fastOpts()
			opts.Delivered = func(dest string, a Alert, err error) {
				if !strings.HasPrefix(dest, "webhook:127.0.0.1:") {
					t.Errorf("dest = %q", dest)
				}
				results <- err
			}
			s := NewSender([]Notifier{&Webhook{URL: r.srv.URL}}, opts)
			stop := run(t, s)
			defer stop()
			if !s.Send(Alert{Event: EventRotationFailed, Credential: "ci", Severity: Warning, Message: "x"}) {
				t.Fatal("Send = false")
			}
			err := <-results
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got := r.calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestSender_Send_dedup(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewSender(nil, Options{Window: time.Hour, Now: func() time.Time { return now }})
	steps := []struct {
		name    string
		advance time.Duration
		alert   Alert
		forget  bool
		want    bool
	}{
		{name: "first", alert: Alert{Credential: "a", Event: EventRotationFailed}, want: true},
		{name: "repeat within window", advance: 10 * time.Minute, alert: Alert{Credential: "a", Event: EventRotationFailed}, want: false},
		{name: "other event", alert: Alert{Credential: "a", Event: EventBindingDrift}, want: true},
		{name: "other credential", alert: Alert{Credential: "b", Event: EventRotationFailed}, want: true},
		{name: "after window", advance: 51 * time.Minute, alert: Alert{Credential: "a", Event: EventRotationFailed}, want: true},
		{name: "repeat override", advance: 2 * time.Hour, alert: Alert{Credential: "a", Event: EventRotationFailed, Repeat: 24 * time.Hour}, want: false},
		{name: "forgotten", forget: true, alert: Alert{Credential: "a", Event: EventRotationFailed}, want: true},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.forget {
			s.Forget(st.alert.Credential, st.alert.Event)
		}
		if got := s.Send(st.alert); got != st.want {
			t.Errorf("%s: Send = %v, want %v", st.name, got, st.want)
		}
	}
}

func TestSender_Send_neverBlocks(t *testing.T) {
	// No Run: nothing drains the queue.
	s := NewSender([]Notifier{&Webhook{URL: "http://127.0.0.1:1"}}, Options{QueueSize: 2, Window: -1})
	var queued int
	for range 5 {
		if s.Send(Alert{Credential: "a", Event: EventRotationFailed}) {
			queued++
		}
	}
	if queued != 2 {
		t.Errorf("queued %d, want 2 (the rest dropped, not blocked)", queued)
	}
}

func TestSender_Send_redactsTokens(t *testing.T) {
	r := newReceiver(t, 0, 0)
	s := NewSender([]Notifier{&Webhook{URL: r.srv.URL}}, fastOpts())
	stop := run(t, s)
	tok := token.Generate(token.KindClassicPAT)
	s.Send(Alert{Credential: "a", Event: EventRotationFailed, Message: "oops " + tok.Reveal() + " leaked"})
	<-r.got
	stop()
	if body := string(r.bodies[0]); strings.Contains(body, tok.Reveal()) || !strings.Contains(body, tok.Redacted()) {
		t.Errorf("body %s holds the token or lacks its redacted form", body)
	}
}

func TestSender_Run_drainsOnStop(t *testing.T) {
	r := newReceiver(t, 0, 0)
	s := NewSender([]Notifier{&Webhook{URL: r.srv.URL}}, fastOpts())
	s.Send(Alert{Credential: "a", Event: EventRotationFailed})
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // stopped before it ever ran: the queued alert still goes out
	s.Run(ctx, 5*time.Second)
	if got := r.calls.Load(); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}

func TestFromConfig(t *testing.T) {
	got, err := FromConfig([]config.Alert{{Type: "webhook", URL: "https://hooks.example.com/x/secret"}, {Type: "slack", URL: "https://hooks.slack.com/services/T/B/secret"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range got {
		names = append(names, n.Name())
	}
	if d := cmp.Diff([]string{"webhook:hooks.example.com", "slack:hooks.slack.com"}, names); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
	if _, err := FromConfig([]config.Alert{{Type: "pager"}}); err == nil {
		t.Error("unknown type: no error")
	}
}

func TestWebhook_Notify_errorHidesURL(t *testing.T) {
	// Nothing listens on port 1: a network error, which must not name the
	// URL's secret path.
	err := (&Webhook{URL: "http://127.0.0.1:1/services/SECRET"}).Notify(t.Context(), Alert{})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q names the URL path", err)
	}
	if de, ok := err.(*DeliveryError); !ok || !de.Temporary {
		t.Errorf("err = %#v, want a temporary *DeliveryError", err)
	}
}
